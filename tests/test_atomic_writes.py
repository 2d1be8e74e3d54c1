"""Reports and baselines are replaced atomically: a writer killed at any moment leaves the
old file or the new one, never a truncated one."""

from __future__ import annotations

import os
import random
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from deltajudge.atomic import atomic_open, atomic_text, write_atomic
from deltajudge.reporting.build import read_json

TESTS = Path(__file__).parent
KILLS = 6

#: A child that writes two versions of every report in turn, forever, until killed.
WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    sys.path.insert(0, sys.argv[2])
    from report_factory import make_report
    from deltajudge.reporting.build import write_report_json
    from deltajudge.reporting.html import write_html
    from deltajudge.reporting.markdown import write_markdown

    out = Path(sys.argv[1])
    versions = [make_report(300, seed=1), make_report(300, seed=2)]
    versions = [r.model_copy(update={"duration_s": float(i)}) for i, r in enumerate(versions)]
    print("ready", flush=True)
    while True:
        for report in versions:
            write_report_json(report, out / "report.json")
            write_report_json(report, out / "baseline" / "accepted.json")
            write_html(report, out / "report.html")
            write_markdown(report, out / "summary.md")
    """
)


def _check_intact(out: Path) -> None:
    """Each file is one whole version (0 or 1), as its own format says."""
    for path in (out / "report.json", out / "baseline" / "accepted.json"):
        assert read_json(path).duration_s in (0.0, 1.0), path
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.rstrip().endswith("</html>"), "report.html is truncated"
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert summary.endswith("</sub>\n"), "summary.md is truncated"
    assert (" 0.0 s, " in summary) != (" 1.0 s, " in summary)


def test_a_writer_killed_at_random_moments_never_leaves_a_broken_file(tmp_path: Path) -> None:
    rng = random.Random(14)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent / "src"), str(TESTS)])}
    mid_write = 0
    for _ in range(KILLS):
        child = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path), str(TESTS)],
            stdout=subprocess.PIPE,
            env=env,
        )
        try:
            assert child.stdout is not None and child.stdout.readline() == b"ready\n"
            while not (tmp_path / "summary.md").exists():  # every file written once
                assert child.poll() is None
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.8))
        finally:
            child.kill()
            child.wait(timeout=10)
        temps = list(tmp_path.rglob(".*.tmp"))
        mid_write += bool(temps)
        _check_intact(tmp_path)
        for temp in temps:  # what a kill leaves: a temporary file beside the real one
            temp.unlink()
    assert mid_write >= KILLS // 3, "too few kills landed mid-write to prove anything"


def test_an_error_while_writing_keeps_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    write_atomic(path, b"old")

    with pytest.raises(RuntimeError), atomic_open(path) as out:
        out.write(b"half of the new")
        raise RuntimeError("disk full")

    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_text_is_utf8_and_the_replaced_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "summary.md"
    write_atomic(path, "Δ mean\n")
    path.chmod(0o640)

    with atomic_text(path) as out:
        out.writelines(["Δ ", "mean ", "≥ 0\n"])

    assert path.read_bytes() == "Δ mean ≥ 0\n".encode()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in path.parent.iterdir()] == ["summary.md"]


def test_a_new_file_gets_the_usual_mode_not_the_temporary_files(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        write_atomic(tmp_path / "report.html", "<!doctype html>")
    finally:
        os.umask(umask)

    assert stat.S_IMODE((tmp_path / "report.html").stat().st_mode) == 0o644
