"""The embedded model end to end: a real llama.cpp server, a 3-case rubric, a report,
and no server left behind however the session ends (pass, failing test, Ctrl-C).

Each project points ``model_path`` at a hard link (or copy) of the model inside its own
tmp_path, so the server's command line names that folder and this test can find
exactly its servers. (A symlink would not do: the pool resolves it.)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from deltajudge.generation.local_server import embedded_model_path

CASES = ["My parcel arrived damaged.", "How do I reset my password?", "Can I change my order?"]

RUBRIC = """\
name: local_tone
dataset: ../cases.jsonl
models: [base, candidate]
graders:
  - name: tone
    type: score_model
    model: judge
    range: [0, 4]
    pass_threshold: 2
    scoring: logprobs
    input:
      - role: system
        content: "Rate how friendly the reply is, from 0 (rude) to 4 (very friendly)."
      - role: user
        content: "Customer: {{ prompt }}\\nReply: {{ sample.output_text }}"
gates:
  - {metric: mean, grader: tone, min: GATE_MIN}
"""

CONFIG = """\
[models.base]
model = "gemma"
provider = "local"
api = "completions"
model_path = "MODEL"
stop = ["\\n"]
params = { temperature = 0, max_output_tokens = 16 }
prompt_template = "Customer: {{ prompt }}\\nAgent:"

[models.candidate]
model = "gemma"
provider = "local"
api = "completions"
model_path = "MODEL"
stop = ["\\n"]
params = { temperature = 0, max_output_tokens = 16 }
prompt_template = "Customer: {{ prompt }}\\nFriendly, enthusiastic agent:"

[models.judge]
model = "gemma"
provider = "local"
api = "completions"
model_path = "MODEL"
params = { temperature = 0, max_output_tokens = 2 }
prompt_template = "{{ system }}\\n\\n{{ prompt }}\\nScore:"
"""


def _project(root: Path, gate_min: float) -> Path:
    model = root / "model.gguf"
    try:
        os.link(embedded_model_path(), model)
    except OSError:  # another file system
        shutil.copyfile(embedded_model_path(), model)
    (root / "rubrics").mkdir()
    (root / "rubrics" / "local.yaml").write_text(RUBRIC.replace("GATE_MIN", str(gate_min)))
    rows = [json.dumps({"id": f"c{i}", "input": text}) for i, text in enumerate(CASES)]
    (root / "cases.jsonl").write_text("\n".join(rows) + "\n")
    (root / "deltajudge.toml").write_text(CONFIG.replace("MODEL", str(model)))
    return root


def _pytest(root: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pytest",
        "rubrics",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:hypothesispytest",
        "--dj-report-dir",
        "out",
        "--dj-no-progress",
    ]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}


def _servers_of(root: Path) -> set[int]:
    """Live llama.cpp server processes started for this project."""
    marker = str(root).encode()
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if b"xllamacpp" in cmdline and marker in cmdline and state != "Z":
            found.add(int(entry.name))
    return found


def _answered(root: Path) -> int:
    """Answers the run has cached so far (0 before the cache exists)."""
    path = root / ".deltajudge" / "cache.sqlite3"
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            (count,) = db.execute("SELECT COUNT(*) FROM generations").fetchone()
    except sqlite3.Error:
        return 0
    return int(count)


def _wait(condition: object, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def test_a_rubric_runs_end_to_end_on_the_embedded_model(tmp_path: Path) -> None:
    root = _project(tmp_path, gate_min=0)
    done = subprocess.run(
        _pytest(root), cwd=root, env=_env(), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    report = json.loads((root / "out" / "report.json").read_text())
    rubric = report["rubrics"][0]
    assert [case["id"] for case in rubric["cases"]] == ["c0", "c1", "c2"]
    for case in rubric["cases"]:
        for alias in ("base", "candidate"):
            sample = case["samples"][alias]
            assert sample["error"] is None
            assert sample["output_text"].strip(), f"{case['id']}/{alias} answered nothing"
            assert 0 <= sample["scores"]["tone"] <= 4
    assert report["models"]["judge"]["provider"] == "local"
    assert report["models"]["base"]["tokens"]["completion_tokens"] > 0
    assert any("smoke-level stand-in" in note for note in report["notes"])
    assert rubric["comparisons"][0]["n"] == 3
    assert _servers_of(root) == set()

    # The rerun is answered by the cache (a local server gets a new port every session,
    # so the cache must not key on it) and never starts a server.
    again = subprocess.run(
        _pytest(root), cwd=root, env=_env(), capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stdout[-3000:]
    replay = json.loads((root / "out" / "report.json").read_text())
    assert (replay["calls"], replay["cache_hits"]) == (0, 12)
    scores = [c["samples"]["candidate"]["scores"]["tone"] for c in rubric["cases"]]
    assert [
        c["samples"]["candidate"]["scores"]["tone"] for c in replay["rubrics"][0]["cases"]
    ] == scores


def test_servers_of_finds_a_running_server(tmp_path: Path) -> None:
    """The orphan checks below mean something only if this finder sees live servers."""
    from deltajudge.generation.local_server import LocalServerPool, LocalServerSpec

    root = _project(tmp_path, gate_min=0)
    with LocalServerPool() as pool:
        pool.ensure(LocalServerSpec(model_path=root / "model.gguf"), alias="base")
        assert len(_servers_of(root)) == 1
    assert _wait(lambda: not _servers_of(root), 10)


def test_no_server_is_left_after_a_failing_session(tmp_path: Path) -> None:
    root = _project(tmp_path, gate_min=5)  # a mean of 5 on a 0-4 scale cannot pass
    done = subprocess.run(
        _pytest(root), cwd=root, env=_env(), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 1, done.stdout[-3000:]
    assert "mean(tone, candidate) >= 5" in done.stdout
    assert _servers_of(root) == set()


def test_no_server_is_left_after_ctrl_c(tmp_path: Path) -> None:
    root = _project(tmp_path, gate_min=0)
    session = subprocess.Popen(
        _pytest(root), cwd=root, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        assert _wait(lambda: _servers_of(root), 90), "no local server started"
        servers = _servers_of(root)
        session.send_signal(signal.SIGINT)
        session.wait(timeout=60)
        assert _wait(lambda: not _servers_of(root), 10), f"left behind: {servers}"
    finally:
        if session.poll() is None:
            session.kill()
            session.wait(timeout=10)
        for pid in _servers_of(root):
            os.kill(pid, signal.SIGKILL)
    assert session.returncode != 0


def test_a_server_that_dies_mid_run_ends_the_run_within_seconds(tmp_path: Path) -> None:
    """SIGILL is how a build with the wrong CPU instructions dies: every pending and later
    call must end at once, and the run must say once what died and how."""
    root = _project(tmp_path, gate_min=0)
    rows = [json.dumps({"id": f"c{i}", "input": f"Question number {i}?"}) for i in range(60)]
    (root / "cases.jsonl").write_text("\n".join(rows) + "\n")
    session = subprocess.Popen(
        _pytest(root), cwd=root, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        assert _wait(lambda: _answered(root) >= 3, 120), "the local server answered nothing"
        (server,) = _servers_of(root)
        os.kill(server, signal.SIGILL)
        killed = time.monotonic()
        output, _ = session.communicate(timeout=60)
        ended_after = time.monotonic() - killed
    finally:
        if session.poll() is None:
            session.kill()
            session.wait(timeout=10)
    text = output.decode(errors="replace")
    assert session.returncode == 1, text[-3000:]
    assert ended_after < 10, f"the run went on for {ended_after:.1f} s after the server died"
    assert "SIGILL: illegal instruction" in text
    report = json.loads((root / "out" / "report.json").read_text())
    notes = [n for n in report["notes"] if "went down" in n]
    assert len(notes) == 1 and "SIGILL: illegal instruction" in notes[0] and "Hint:" in notes[0]
    cases = report["rubrics"][0]["cases"]
    errors = [s["error"] for c in cases for s in c["samples"].values() if s["error"]]
    assert errors and all("is down" in e for e in errors)
    assert _servers_of(root) == set()
