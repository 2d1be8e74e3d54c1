"""Line and column of every key in a YAML file, so schema errors read like a compiler's."""

from __future__ import annotations

from typing import Any

import yaml

Position = tuple[int, int]
Path = tuple[int | str, ...]


def load_with_positions(text: str) -> tuple[Any, dict[Path, Position]]:
    """Parse YAML and map each key path, e.g. ``("graders", 0, "range")``, to (line, col)."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    positions: dict[Path, Position] = {}
    if node is not None:
        _walk(node, (), positions)
    return yaml.safe_load(text), positions


def _walk(node: yaml.Node, path: Path, out: dict[Path, Position]) -> None:
    out.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = (*path, key_node.value)
            out[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _walk(value_node, child, out)
            out[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), out)


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
