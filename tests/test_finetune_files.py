"""``deltajudge data validate|split|convert|stats`` and the library under it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from deltajudge.cases.finetune_files import read_rows, validate_file
from deltajudge.cases.finetune_ops import file_stats
from deltajudge.cli import main

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "fixtures" / "good_vibes" / "train.jsonl"


def _msgs(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"role": role, "content": content} for role, content in pairs]


def pair(prompt: str, good: str, bad: str, system: str | None = None) -> dict[str, Any]:
    turns = ([("system", system)] if system else []) + [("user", prompt)]
    return {
        "input": {"messages": _msgs(*turns)},
        "preferred_output": _msgs(("assistant", good)),
        "non_preferred_output": _msgs(("assistant", bad)),
    }


def _write(path: Path, rows: list[dict[str, Any] | str]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD_ROWS = [pair(f"question {i}", f"a friendly answer {i}!", f"answer {i}") for i in range(10)]


def test_validate_names_every_bad_row_with_path_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad_role = pair("q", "a", "b")
    bad_role["input"]["messages"][0]["role"] = "customer"
    no_user = pair("q", "a", "b")
    no_user["input"]["messages"][0]["role"] = "system"
    long_row = pair("long", "x" * 400, "y")
    path = _write(
        tmp_path / "pairs.jsonl",
        [
            *GOOD_ROWS,
            pair("same", "identical answer", "identical answer"),  # 11
            pair("q", "", "b"),  # 12
            bad_role,  # 13
            no_user,  # 14
            json.dumps(GOOD_ROWS[0]),  # 15: a duplicate of line 1
            "{not json",  # 16
            long_row,  # 17
        ],
    )
    code = main(["data", "validate", str(path), "--max-chars", "300"])
    assert code == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"{path}:11: preferred_output and non_preferred_output are the same answer",
        f"{path}:12: preferred_output[0].content: empty",
        f"{path}:13: input.messages: no user turn",
        f"{path}:13: input.messages[0].role: unknown role 'customer' (expected one of "
        "assistant, developer, system, tool, user)",
        f"{path}:14: input.messages: no user turn",
        f"{path}:15: duplicate of line 1",
        f"{path}:16: invalid JSON: Expecting property name enclosed in double quotes",
        f"{path}:17: row is {len(json.dumps(long_row))} characters (more than 300): "
        "cut at the context length",
    ]


def test_validate_passes_the_bundled_training_file_and_checks_sft_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["data", "validate", str(TRAIN)]) == 0
    assert capsys.readouterr().out == f"{TRAIN}: ok\n"
    sft = [{"messages": _msgs(("user", f"q{i}"), ("assistant", f"a{i}"))} for i in range(9)]
    sft.append({"messages": _msgs(("system", "s"), ("user", "q"))})
    path = _write(tmp_path / "sft.jsonl", sft)
    assert [str(p) for p in validate_file(path)] == [
        f"{path}: 9 rows; OpenAI fine-tuning needs at least 10",
        f"{path}:10: messages: no assistant turn to learn from",
    ]


def _split(path: Path, out: Path, *extra: str) -> dict[str, list[str]]:
    assert main(["data", "split", str(path), "--out", str(out), *extra]) == 0
    return {
        name: (out / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
        for name in ("train", "valid", "test")
    }


def test_split_is_seeded_80_10_10_and_never_puts_one_prompt_in_two_splits(tmp_path: Path) -> None:
    rows = [pair(f"prompt {i // 2}", f"good {i}", f"bad {i}") for i in range(40)]
    rows += [pair(f"single {i}", f"good {i}", f"bad {i}") for i in range(60)]
    path = _write(tmp_path / "all.jsonl", rows)
    first = _split(path, tmp_path / "a", "--seed", "7")
    assert first == _split(path, tmp_path / "b", "--seed", "7")
    assert first != _split(path, tmp_path / "c", "--seed", "8")
    assert [len(first[n]) for n in ("train", "valid", "test")] == [80, 10, 10]
    prompts = {
        name: {json.dumps(json.loads(line)["input"]) for line in lines}
        for name, lines in first.items()
    }
    assert not prompts["train"] & prompts["valid"]
    assert not prompts["train"] & prompts["test"]
    assert not prompts["valid"] & prompts["test"]
    written = sorted(line for lines in first.values() for line in lines)
    assert written == sorted(path.read_text(encoding="utf-8").splitlines())  # rows verbatim


def _convert(source: Path, to: str, out: Path, *extra: str) -> int:
    return main(["data", "convert", str(source), "--to", to, "--out", str(out), *extra])


def test_convert_preference_to_trl_and_back_is_lossless(tmp_path: Path) -> None:
    trl = tmp_path / "trl.jsonl"
    assert _convert(TRAIN, "trl-preference", trl) == 0
    first = json.loads(trl.read_text(encoding="utf-8").splitlines()[0])
    assert first["id"] == "gv-train-001" and first["prompt"][0]["role"] == "system"
    back = tmp_path / "back.jsonl"
    assert _convert(trl, "openai-preference", back) == 0
    assert back.read_bytes() == TRAIN.read_bytes()


def test_convert_to_sft_keeps_the_preferred_answer_and_says_what_it_dropped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sft = tmp_path / "sft.jsonl"
    assert _convert(TRAIN, "openai-sft", sft) == 0
    assert "non-preferred answer in 48 rows" in capsys.readouterr().out
    row = json.loads(sft.read_text(encoding="utf-8").splitlines()[0])
    original = json.loads(TRAIN.read_text(encoding="utf-8").splitlines()[0])
    assert row["messages"] == original["input"]["messages"] + original["preferred_output"]
    assert _convert(sft, "openai-preference", tmp_path / "x.jsonl") == 1
    assert f"{sft}:1: an SFT row has no non-preferred answer" in capsys.readouterr().err


def test_convert_standard_trl_rows_round_trip_as_plain_strings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [{"prompt": f"q{i}", "chosen": f"good {i}", "rejected": f"bad {i}"} for i in range(3)]
    source = _write(tmp_path / "std.jsonl", rows)
    openai, back = tmp_path / "openai.jsonl", tmp_path / "back.jsonl"
    assert _convert(source, "openai-preference", openai) == 0
    assert json.loads(openai.read_text().splitlines()[0])["input"]["messages"] == _msgs(
        ("user", "q0")
    )
    assert _convert(openai, "trl-preference", back, "--style", "standard") == 0
    assert back.read_text() == source.read_text()
    # a system prompt does not fit TRL's plain-string form: refused, not dropped
    assert _convert(TRAIN, "trl-preference", back, "--style", "standard") == 1
    assert "a standard TRL row holds one user message" in capsys.readouterr().err


def test_stats_reports_lengths_and_the_preferred_to_non_preferred_ratio(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(
        tmp_path / "p.jsonl", [pair("q", "a" * 30, "b" * 10), pair("q2", "c" * 10, "d" * 10)]
    )
    fmt, rows, _ = read_rows(path)
    stats = file_stats(fmt, rows)
    assert stats.rows == 2 and stats.prompts == 2
    assert stats.length_ratio == pytest.approx(2.0)  # mean 20 / mean 10
    assert stats.chosen_longer == pytest.approx(0.5)
    assert main(["data", "stats", str(TRAIN)]) == 0
    out = capsys.readouterr().out
    assert "48 rows (openai-preference)" in out
    assert "the preferred answer is the longer one in 100% of pairs" in out


def test_leakage_lists_exact_normalised_and_near_duplicate_prompts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train = _write(
        tmp_path / "train.jsonl",
        [
            pair("Where is my order #123?", "good", "bad"),
            pair("How do I reset my password?", "good", "bad"),
            pair("Can I change the delivery address for my parcel?", "good", "bad"),
            pair("Something entirely different", "good", "bad"),
        ],
    )
    evaluation = _write(
        tmp_path / "eval.jsonl",
        [
            {"id": "e1", "input": "Where is my order #123?"},
            {"id": "e2", "input": "how do i   reset my password"},
            {"id": "e3", "input": "Can I change the delivery address for my parcels?"},
            {"id": "e4", "input": "What are your opening hours?"},
        ],
    )
    assert main(["data", "leakage", str(evaluation), "--train", str(train)]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0] == f"{evaluation}:1: case e1: exact match of {train}:1"
    assert lines[1] == f"{evaluation}:2: case e2: normalised match of {train}:2"
    assert lines[2].startswith(f"{evaluation}:3: case e3: near (0.9")
    assert lines[2].endswith(f"match of {train}:3")
    assert len(lines) == 3  # e4 is new
    assert "3 evaluation prompts are in the training file" in captured.err
    assert main(["data", "leakage", str(evaluation), "--train", str(train), "--fail"]) == 1


def test_validate_checks_trl_rows_and_stats_survives_a_file_of_bad_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows: list[dict[str, Any] | str] = [
        {"prompt": f"q{i}", "chosen": f"good {i}", "rejected": f"bad {i}"} for i in range(10)
    ]
    rows.append({"prompt": "q", "chosen": "same", "rejected": "same"})
    rows.append(
        {
            "prompt": [{"role": "user", "content": "q"}],
            "chosen": [{"role": "user", "content": "a"}],
            "rejected": [{"role": "assistant", "content": "b"}],
        }
    )
    path = _write(tmp_path / "trl.jsonl", rows)
    assert [str(p) for p in validate_file(path)] == [
        f"{path}:11: chosen and rejected are the same answer",
        f"{path}:12: a conversational TRL row in a file of standard rows",
        f"{path}:12: chosen: every message must be the assistant's",
    ]
    broken = _write(tmp_path / "broken.jsonl", ['{"messages": []}'])
    assert main(["data", "stats", str(broken)]) == 1
    assert "messages: expected a non-empty list of messages" in capsys.readouterr().err


def test_a_file_with_no_training_row_names_the_first_line_and_the_formats(tmp_path: Path) -> None:
    """An evaluation prompt file given as `training_file` must say why it is not one."""
    from deltajudge.errors import DatasetError

    path = tmp_path / "prompts.jsonl"
    path.write_text('{"input": "hi"}\n{"input": "yo"}\n', encoding="utf-8")

    with pytest.raises(DatasetError) as info:
        read_rows(path)

    assert info.value.render().splitlines() == [
        f"{path}:1: no training rows found: not an SFT row ({{messages}}), an OpenAI "
        "preference row or a TRL prompt/chosen/rejected row",
        'Hint: one JSON object a line: an SFT row {"messages": [...]}, an OpenAI preference '
        'row {"input": {"messages": [...]}, "preferred_output": [...], '
        '"non_preferred_output": [...]}, or a TRL row {"prompt", "chosen", "rejected"}',
    ]
