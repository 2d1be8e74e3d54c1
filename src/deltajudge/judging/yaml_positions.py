"""Line and column of every key in a YAML file, so schema errors read like a compiler's.

The file is composed once, checked, then constructed from the same node tree:

* a key given twice in one mapping is an error (PyYAML keeps the last one silently, so a
  second ``gates: []`` would drop every gate);
* every string must be text (no lone surrogate from a ``"\\ud800"`` escape);
* aliases are bounded: the document, with every alias expanded, may hold at most
  `MAX_NODES` nodes, and an alias may not contain itself. A 400-byte "billion laughs"
  file otherwise expands to millions of entries and hangs collection.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

Position = tuple[int, int]
Path = tuple[int | str, ...]

#: Far above any real rubric (a 50-grader file is a few thousand nodes).
MAX_NODES = 100_000
#: Rubrics nest five or six levels. PyYAML's scanner slows down with the square of the
#: depth (5,000 levels: a minute), so the bound is checked while composing.
MAX_DEPTH = 64
_MERGE = "tag:yaml.org,2002:merge"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_STR = "tag:yaml.org,2002:str"


class YamlProblem(yaml.MarkedYAMLError):
    """A file PyYAML would accept but deltajudge refuses; carries the mark of the problem."""

    def __init__(self, problem: str, mark: yaml.Mark | None) -> None:
        super().__init__(problem=problem, problem_mark=mark)


class _Loader(yaml.SafeLoader):
    """SafeLoader with a depth bound, and dates left as strings (no rubric key is a date,
    and ``2001-02-30`` would otherwise fail with no line to point at)."""

    yaml_implicit_resolvers = {  # noqa: RUF012 (PyYAML's own class-level registry)
        first: [(tag, pattern) for tag, pattern in resolvers if tag != _TIMESTAMP]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise YamlProblem(f"nested deeper than {MAX_DEPTH} levels", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_with_positions(text: str) -> tuple[Any, dict[Path, Position]]:
    """Parse YAML and map each key path, e.g. ``("graders", 0, "range")``, to (line, col)."""
    _check_flow_depth(text)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        positions: dict[Path, Position] = {}
        if node is None:
            return None, positions
        _check_size(node)
        _walk(node, (), positions, loader)
        try:
            return loader.construct_document(node), positions
        except (ValueError, TypeError, OverflowError) as exc:
            raise YamlProblem(f"cannot read a value: {exc}", node.start_mark) from None
    finally:
        loader.dispose()


_QUOTED = re.compile(r"'(?:[^']|'')*'" + r'|"(?:[^"\\]|\\.)*"')
_FLOW = re.compile(r"[\[\]{}]")


def _check_flow_depth(text: str) -> None:
    """Refuse ``[[[[…`` before PyYAML scans it: its scanner looks up to 1,024 characters
    ahead at every open bracket, so 3,000 of them on a line take over a second to reach
    the composer's depth bound. Brackets in quoted strings do not count."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return
    depth = 0
    for match in _FLOW.finditer(_QUOTED.sub(lambda m: " " * len(m.group()), text)):
        depth = depth + 1 if match.group() in "[{" else max(depth - 1, 0)
        if depth > MAX_DEPTH:
            line = text.count("\n", 0, match.start())
            column = match.start() - (text.rfind("\n", 0, match.start()) + 1)
            mark = yaml.Mark("<rubric>", match.start(), line, column, "", 0)
            raise YamlProblem(f"nested deeper than {MAX_DEPTH} levels", mark)


def _check_size(root: yaml.Node) -> None:
    """Count the expanded document without expanding it: each node's size is memoized,
    so a shared (aliased) node is measured once however often it is used."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise YamlProblem("an alias refers to the node that contains it", node.start_mark)
        active.add(key)
        total = 1
        if isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total += sum(size(item) for item in node.value)
        active.discard(key)
        if total > MAX_NODES:
            raise YamlProblem(
                f"too large once its aliases are expanded (more than {MAX_NODES:,} values)",
                node.start_mark,
            )
        sizes[key] = total
        return total

    size(root)


def _walk(node: yaml.Node, path: Path, out: dict[Path, Position], loader: _Loader) -> None:
    out.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        seen: dict[object, yaml.Node] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                continue  # ``<<: *defaults``: keys given here override the merged ones
            key = (
                (key_node.tag, key_node.value)
                if isinstance(key_node, yaml.ScalarNode)
                else id(key_node)
            )
            if key in seen:
                first = seen[key].start_mark.line + 1
                raise YamlProblem(
                    f"duplicate key {key_node.value!r} (first given on line {first}); each key may "
                    "appear once in a mapping",
                    key_node.start_mark,
                )
            seen[key] = key_node
            child = (*path, key_node.value)
            out[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _walk(value_node, child, out, loader)
            out[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), out, loader)
    elif isinstance(node, yaml.ScalarNode):
        _check_scalar(node, loader)


def _check_scalar(node: yaml.ScalarNode, loader: _Loader) -> None:
    """Values PyYAML would fail on while constructing, caught where their line is known:
    a lone surrogate (from a ``"\\ud800"`` escape: no request could carry it) or a number
    Python refuses to read (an integer of more than 4,300 digits)."""
    try:
        node.value.encode("utf-8")
    except UnicodeEncodeError:
        raise YamlProblem("holds a lone surrogate, which is not text", node.start_mark) from None
    constructor = loader.yaml_constructors.get(node.tag)
    if node.tag == _STR or constructor is None:
        return
    try:
        constructor(loader, node)
    except (ValueError, TypeError, OverflowError) as exc:
        short = node.tag.rsplit(":", 1)[-1]
        problem = f"cannot read {node.value[:20]!r}… as {short}: {exc}"
        raise YamlProblem(problem, node.start_mark) from None


def nearest(positions: dict[Path, Position], path: Path) -> Position | None:
    """The position of ``path`` or of its closest ancestor that exists in the file."""
    for end in range(len(path), -1, -1):
        found = positions.get(path[:end])
        if found is not None:
            return found
    return None


def dotted(path: Path) -> str:
    """``("graders", 0, "range")`` -> ``graders[0].range``, as error messages spell it."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out
