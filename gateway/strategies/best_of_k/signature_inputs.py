"""Inputs read off the entry point's signature, for a task that shows no examples: the
candidates run on the same small values of the annotated types and are compared by
what they return (MBR-exec, Shi et al. 2022). Without them, a prompt with no examples
and no usable model-written tests leaves nothing to tell 100 candidates apart, and the
client's own answer wins by default even when most samples agree on another behaviour.

Only annotated parameters of known types get values; one unannotated or unknown
parameter means no inputs at all (a guessed type would mostly measure who raises
TypeError first). The values are small, so a right but slow answer does not time out.
"""

from __future__ import annotations

import ast
from typing import Any

MAX_SIGNATURE_CALLS = 8
MAX_SIGNATURE_LINES = 2_000
MAX_SIGNATURE_CHARS = 2_000  # a def line and its continuation lines

_SCALARS: dict[str, list[Any]] = {
    "int": [0, 3, 1, 10, -2],
    "float": [0.0, 2.5, 1.0, -1.5],
    "str": ["", "abc", "a", "Hello World"],
    "bool": [False, True],
}
_GENERIC_ALIASES = {"List": "list", "Tuple": "tuple", "Dict": "dict", "Sequence": "list"}


def _values(annotation: ast.expr | None) -> list[Any] | None:
    """Small values of the annotated type, the most telling second; None: unknown."""
    match annotation:
        case ast.Name(id=name) if name in _SCALARS:
            return _SCALARS[name]
        case ast.Name(id=name) if _GENERIC_ALIASES.get(name, name) == "list":
            return _lists(_SCALARS["int"])
        case ast.Subscript(value=ast.Name(id=name), slice=inner):
            kind = _GENERIC_ALIASES.get(name, name)
            if kind == "list":
                items = _values(inner)
                return _lists(items) if items else None
            if name == "Optional":
                items = _values(inner)
                return [*items, None] if items else None
    return None


def _lists(items: list[Any]) -> list[Any]:
    lists = [[], items[1:4], [items[1]], items[:]]
    try:  # sorted both ways too: order is what many list tasks are about
        ordered = sorted(items)
    except TypeError:  # None among ints
        return lists
    return [*lists, ordered, ordered[::-1]]


def _signature(prompt: str, entry_point: str) -> ast.FunctionDef | None:
    lines = prompt.split("\n", MAX_SIGNATURE_LINES)[:MAX_SIGNATURE_LINES]
    head = f"def {entry_point}("
    for start, line in enumerate(lines):
        if not line.lstrip().startswith(head):
            continue
        text = ""
        for part in lines[start : start + 20]:
            text += part.strip() + "\n"
            if len(text) > MAX_SIGNATURE_CHARS:
                return None
            if part.rstrip().endswith(":"):
                try:
                    node = ast.parse(text + "    pass\n").body[0]
                except (SyntaxError, ValueError, MemoryError, RecursionError):
                    break
                return node if isinstance(node, ast.FunctionDef) else None
    return None


def signature_calls(prompt: str, entry_point: str | None) -> list[str]:
    """Calls of the entry point on small values of its parameters' types: the second
    value of each, then one parameter at a time through its values."""
    if not entry_point:
        return []
    node = _signature(prompt, entry_point)
    if node is None:
        return []
    arguments = node.args
    if arguments.vararg or arguments.kwarg or arguments.kwonlyargs or arguments.posonlyargs:
        return []
    params = [a for a in arguments.args if a.arg not in ("self", "cls")]
    if not params or arguments.defaults:
        return []
    choices = [_values(p.annotation) for p in params]
    if any(c is None for c in choices):
        return []
    known = [c for c in choices if c is not None]
    base = [values[1 % len(values)] for values in known]
    calls: list[str] = []
    for position, values in enumerate(known):
        for value in values:
            call = [*base[:position], value, *base[position + 1 :]]
            text = f"{entry_point}({', '.join(repr(v) for v in call)})"
            if text not in calls:
                calls.append(text)
    return calls[:MAX_SIGNATURE_CALLS]
