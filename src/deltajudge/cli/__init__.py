"""``deltajudge``: check whether a fine-tuned model beats its base, from the command line.

``deltajudge run`` is pytest (``pytest.main``) with deltajudge's options spelled without
their ``--dj-`` prefix, so it and plain ``pytest`` give the same items, results and exit
codes, and every pytest option works in any position. The other commands work on files
only and never call a model.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from deltajudge import __version__
from deltajudge.errors import DeltajudgeError

DESCRIPTION = (
    "Is the fine-tuned model better than the base, is it real, and did anything regress? "
    "deltajudge runs rubric files as pytest tests: it asks a baseline and candidate models "
    "each prompt, has a judge score the answers, and gates CI on the deltas."
)

RUN_EPILOG = """\
Every pytest option works too, before or after the paths: -k EXPR, -x, -v, -q,
--junitxml PATH, --collect-only, -p PLUGIN ... (see `pytest --help`).
With no paths, rubrics/ is collected. Examples:
  deltajudge run
  deltajudge run rubrics/tone.yaml -k refund --model candidate=ft:gpt-4.1-mini:org::abc
  deltajudge run --limit 20 --report-dir reports/try --junitxml reports/junit.xml
"""

#: ``deltajudge run`` collects this folder when no path is named.
DEFAULT_RUN_PATH = "rubrics"


@dataclass(frozen=True)
class Command:
    """One subcommand: its one-line help, its arguments, and what it does with them."""

    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    handle: Callable[[argparse.Namespace], int]


def _report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("report", type=Path, help="a report.json written by a run")
    parser.add_argument("--out", type=Path, help="folder for the renderings (default: beside it)")
    parser.add_argument(
        "--report-url",
        help="where readers find report.html, linked from summary.md (https URL or artifact name)",
    )


def _rerender(ns: argparse.Namespace) -> int:
    from deltajudge.cli import reports

    return reports.rerender(ns.report, ns.out, ns.report_url)


def _diff_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("old", type=Path, help="the earlier report.json (e.g. the baseline)")
    parser.add_argument("new", type=Path, help="the later report.json")


def _diff(ns: argparse.Namespace) -> int:
    from deltajudge.cli import reports

    return reports.diff(ns.old, ns.new)


def _init_arguments(parser: argparse.ArgumentParser) -> None:
    from deltajudge.cli.init import add_arguments

    add_arguments(parser)


def _init(ns: argparse.Namespace) -> int:
    from deltajudge.cli.init import init_project

    return init_project(ns)


def _merge_arguments(parser: argparse.ArgumentParser) -> None:
    from deltajudge.cli.merge import add_arguments

    add_arguments(parser)


def _batch_arguments(parser: argparse.ArgumentParser) -> None:
    from deltajudge.cli.batch import add_arguments

    add_arguments(parser)


def _merge(ns: argparse.Namespace) -> int:
    from deltajudge.cli.merge import merge

    return merge(ns)


def _batch(ns: argparse.Namespace) -> int:
    from deltajudge.cli.batch import status

    return status(ns)


#: Subcommands besides ``run`` (which passes unknown options to pytest); add one here.
COMMANDS: dict[str, Command] = {
    "init": Command("write deltajudge.toml, a rubric and a data set here", _init_arguments, _init),
    "report": Command("re-render HTML and Markdown from report.json", _report_arguments, _rerender),
    "diff": Command("what changed between two report.json files", _diff_arguments, _diff),
    "merge": Command(
        "one report from the results of --dj-shard K/N runs", _merge_arguments, _merge
    ),
    "batch": Command("where a suite's Batch API runs are (status)", _batch_arguments, _batch),
}


def all_commands() -> dict[str, Command]:
    """`COMMANDS` and the data/evals commands of `deltajudge.cli.commands`, imported only
    when a command other than ``run`` is parsed, so ``deltajudge run`` starts quickly."""
    from deltajudge.cli.commands import COMMANDS as MORE

    more = {name: Command(text, args, handle) for name, (text, args, handle) in MORE.items()}
    return {**COMMANDS, **more}


def _run_parser() -> argparse.ArgumentParser:
    from deltajudge.pytest_plugin.options import OPTIONS

    run = argparse.ArgumentParser(
        prog="deltajudge run",
        usage="deltajudge run [PATH ...] [options] [pytest options]",
        description="Run rubric files (default: rubrics/) as pytest tests.",
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
        add_help=True,
    )
    for option in OPTIONS:
        run.add_argument(f"--{option.name}", dest=option.dest, **option.argparse_kwargs())
    return run


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deltajudge", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"deltajudge {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("run", help="run rubric files as pytest tests (pytest options work)")
    for name, command in all_commands().items():
        command.arguments(commands.add_parser(name, help=command.help))
    return parser


def split_run_args(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Separate ``deltajudge run``'s own options from what goes to pytest, keeping the order
    of both. Only our exact spellings are taken (no abbreviations, so pytest's ``--co`` stays
    pytest's); everything else, paths and option values included, is pytest's."""
    from deltajudge.pytest_plugin.options import OPTIONS

    takes_value = {f"--{o.name}": o.kind != "switch" for o in OPTIONS}
    takes_value.update({"-h": False, "--help": False})
    ours: list[str] = []
    theirs: list[str] = []
    index = 0
    while index < len(argv):
        token = argv[index]
        if token == "--":
            theirs += argv[index:]
            break
        flag = token.split("=", 1)[0]
        if flag not in takes_value:
            theirs.append(token)
        elif takes_value[flag] and "=" not in token and index + 1 < len(argv):
            ours += [token, argv[index + 1]]
            index += 1
        else:
            ours.append(token)
        index += 1
    return ours, theirs


def pytest_args(ns: argparse.Namespace, passthrough: Sequence[str]) -> list[str]:
    """Our options as ``--dj-name=value`` single tokens: pytest finds its rootdir from the
    command line's existing paths before it knows our options, so a separate value such as
    ``--dj-report-dir /abs/folder`` would move the rootdir once that folder exists."""
    from deltajudge.pytest_plugin.options import DEFAULT_PATH_OPTION, OPTIONS

    args: list[str] = []
    for option in OPTIONS:
        value = getattr(ns, option.dest)
        if option.kind == "switch":
            args += [option.pytest_flag] if value else []
        elif option.kind == "append":
            args += [f"{option.pytest_flag}={item}" for item in value]
        elif value is not None:
            args.append(f"{option.pytest_flag}={value}")
    args.append(f"{DEFAULT_PATH_OPTION}={DEFAULT_RUN_PATH}")
    # This process imported deltajudge before pytest could mark it for assertion
    # rewriting; the plugin asserts nothing a user reads, so the warning is noise.
    quiet = ["-W", "ignore::pytest.PytestAssertRewriteWarning"]
    return [*passthrough, *args, *quiet]


def run(argv: Sequence[str]) -> int:
    ours, passthrough = split_run_args(argv)
    ns = _run_parser().parse_args(ours)
    import pytest

    code = int(pytest.main(pytest_args(ns, passthrough)))
    if code == pytest.ExitCode.NO_TESTS_COLLECTED:
        _hint_uncollected_rubrics(passthrough)
    return code


def _hint_uncollected_rubrics(paths: Sequence[str]) -> None:
    """`deltajudge run evals/` with the rubric in evals/tone.yaml collects nothing: a folder
    only yields YAML files under rubrics/ or named *.rubric.yaml. Say so instead of a bare
    "no tests ran"."""
    from deltajudge.pytest_plugin.items import is_rubric_file

    folders = [Path(p) for p in paths if not p.startswith("-") and Path(p).is_dir()]
    missed = [
        path
        for folder in folders
        for path in sorted(folder.rglob("*.y*ml"))[:200]
        if path.suffix in (".yaml", ".yml")
        and not is_rubric_file(path)
        and "graders:" in path.read_text(encoding="utf-8", errors="replace")
    ]
    if missed:
        print(
            f"deltajudge: {missed[0]} looks like a rubric but was not collected: a folder "
            "yields the YAML files of its rubrics/ folders and files named *.rubric.yaml\n"
            f"Hint: name the file (deltajudge run {missed[0]}), move it into a rubrics/ "
            f"folder, or rename it {missed[0].stem}.rubric.yaml",
            file=sys.stderr,
        )


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args and args[0] == "run":
            return run(args[1:])
        ns = _parser().parse_args(args)
        return all_commands()[ns.command].handle(ns)
    except DeltajudgeError as exc:
        print(f"deltajudge: {exc}", file=sys.stderr)
        return 2
