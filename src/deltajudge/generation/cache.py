"""A persistent answer cache in SQLite, written as each call finishes.

Why SQLite and write-through: an interrupted run (Ctrl-C, a CI timeout, a crashed
laptop) must lose nothing it paid for, and a rerun must repeat no finished call.
Generations and judgments live in separate tables so that editing a rubric re-judges
without re-generating. Only successes are stored: an error, a refusal or an unparseable
judge answer is asked again next time.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Literal

from deltajudge.generation.request import CallResult

Table = Literal["generations", "judgments"]
_TABLES = ("generations", "judgments", "figures")

#: Tries of a set-up statement that found the file locked, a tenth of a second apart.
SET_UP_TRIES = 50


def execute_when_unlocked(db: sqlite3.Connection, statement: str) -> None:
    """Run a set-up statement, trying again while another process sets the file up.

    Two processes opening a new cache at once (xdist workers, CI jobs on one disk) can
    deadlock in SQLite's locking: switching to WAL or creating a table upgrades a read
    lock to a write lock, and when the other process holds the write lock SQLite answers
    "database is locked" at once instead of waiting (its busy timeout cannot help a
    deadlock). The statement gave up its lock when it failed; tried again, it waits its
    turn. Bounded: ~5 s, then the error stands."""
    for attempt in range(SET_UP_TRIES):
        try:
            db.execute(statement)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == SET_UP_TRIES - 1:
                raise
            time.sleep(0.1)


class ResponseCache:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "cache.sqlite3"
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        set_up = [
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=NORMAL",
            *(
                f"CREATE TABLE IF NOT EXISTS {table} "
                "(key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL NOT NULL)"
                for table in _TABLES
            ),
        ]
        for statement in set_up:
            execute_when_unlocked(self._db, statement)
        self.hits = 0
        self.writes = 0

    def get(self, table: Table, key: str) -> CallResult | None:
        row = self._db.execute(f"SELECT value FROM {table} WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        self.hits += 1
        return CallResult.from_json(row[0])

    def has(self, table: Table, key: str) -> bool:
        """Whether an answer is stored, without counting a hit (the pre-run estimate)."""
        row = self._db.execute(f"SELECT 1 FROM {table} WHERE key = ?", (key,)).fetchone()
        return row is not None

    def put(self, table: Table, key: str, result: CallResult) -> None:
        self._db.execute(
            f"INSERT OR REPLACE INTO {table} (key, value, created) VALUES (?, ?, ?)",
            (key, result.to_json(), time.time()),
        )
        self.writes += 1

    def get_figures(self, key: str) -> str | None:
        """A rubric's statistics for exactly these scores, computed by an earlier run."""
        row = self._db.execute("SELECT value FROM figures WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def put_figures(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO figures (key, value, created) VALUES (?, ?, ?)",
            (key, value, time.time()),
        )

    def close(self) -> None:
        self._db.close()
