"""Turn the examples written in a prompt into runnable tests.

Three shapes are recognised: doctests (`>>> f(2)` then `4`), `assert` lines, and
"Example / Input / Output" blocks. Informal examples (`f(2) == 4`, `f(2) ➞ 4`,
`f(2) should return 4`) count too, but only with literal arguments and results, so
a sloppy example cannot fail a correct program. A call to a name the prompt does not
define is bound to the entry point (prompts sometimes name the function differently).
"""

from __future__ import annotations

import ast
import re

from sandbox.request_tests import code_test
from sandbox.verdict import TestCase

_DEF = re.compile(r"^\s*def\s+(\w+)\s*\(", re.MULTILINE)
_ARROW = re.compile(
    r"^\s*(?:[*-]\s*)?([A-Za-z_]\w*\(.*\))\s*"
    r"(?:==>|=>|➞|->|==|should return|returns)\s*(.+?)\s*\.?\s*$"
)
HEADER = re.compile(
    r"^\s*(?:sample\s+|example\s+)?(input|output)s?(?:\s*#?\s*\d+)?\s*:?\s*(.*)$", re.IGNORECASE
)
STOP = re.compile(
    r"^\s*(example|explanation|note|constraints?|input|output|sample)\b"
    r"|^\s*(```|\"\"\"|''')",
    re.IGNORECASE,
)
_JSONISH = {"true": "True", "false": "False", "null": "None", "none": "None"}


def literal(text: str) -> str | None:
    """`text` as a Python literal expression, or None if it is not one."""
    text = _JSONISH.get(text.strip().lower(), text.strip())
    try:
        tree = ast.parse(text, mode="eval")
        ast.literal_eval(tree)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return ast.unparse(tree)  # drops a trailing `# comment`


def literal_call(call: str) -> tuple[str, str] | None:
    """(function name, argument text) of a call whose arguments are all literals."""
    try:
        node = ast.parse(call.strip(), mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        return None
    try:
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            ast.literal_eval(arg)
    except (ValueError, TypeError):
        return None
    if any(k.arg is None for k in node.keywords):
        return None
    open_paren = call.index("(")
    return node.func.id, call.strip()[open_paren:][1:-1] if call.strip().endswith(")") else ""


class Context:
    def __init__(self, prompt: str, entry_point: str | None) -> None:
        defined = _DEF.findall(prompt)
        self.defined = set(defined)
        self.entry_point = entry_point or (defined[-1] if defined else None)

    def bind(self, name: str) -> str:
        if self.entry_point and name not in self.defined and name != self.entry_point:
            return self.entry_point
        return name

    def equality(self, name: str, call: str, expected: str, label: str) -> TestCase:
        # Newlines inside the parentheses: an example may end in a `# comment`.
        code = (
            f"_atlas_actual = ({call}\n)\n"
            f"_atlas_expected = ({expected}\n)\n"
            f"assert _atlas_close(_atlas_actual, _atlas_expected), "
            f"'expected %r, got %r' % (_atlas_expected, _atlas_actual)\n"
        )
        return TestCase(kind="assert", name=label[:80], code=code, entry_point=name)


def _doctest_examples(lines: list[str]) -> list[tuple[str, str, list[int]]]:
    """(source, expected output, line numbers used) of each `>>>` example."""
    examples: list[tuple[str, str, list[int]]] = []
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if not stripped.startswith(">>>"):
            i += 1
            continue
        used, source = [i], [stripped[3:].strip()]
        i += 1
        while i < len(lines) and lines[i].strip().startswith("..."):
            source.append(lines[i].strip()[3:].lstrip(" "))
            used.append(i)
            i += 1
        expected: list[str] = []
        while (
            i < len(lines)
            and lines[i].strip()
            and not lines[i].strip().startswith(">>>")
            and not lines[i].strip().startswith(('"""', "'''"))
        ):
            expected.append(lines[i].strip())
            used.append(i)
            i += 1
        examples.append(("\n".join(source), "\n".join(expected), used))
    return examples


def doctests(lines: list[str], ctx: Context, used: set[int]) -> list[TestCase]:
    tests: list[TestCase] = []
    setup: list[str] = []
    for source, expected, numbers in _doctest_examples(lines):
        used.update(numbers)
        if not expected:
            setup.append(source)  # a statement other examples may depend on
            continue
        value = literal(expected) or _expression(expected)
        expression = _expression(source)
        if value is None or expression is None:
            continue
        source = expression
        call = literal_call(source)
        name = ctx.bind(call[0]) if call else (ctx.entry_point or "")
        if call:
            source = f"{name}({call[1]})"
        test = ctx.equality(name, f"({source})", f"({value})", source)
        prefix = "\n".join(setup)
        tests.append(
            test
            if not prefix
            else TestCase(
                kind="assert", name=test.name, code=prefix + "\n" + test.code, entry_point=name
            )
        )
    return tests


def _expression(text: str) -> str | None:
    try:
        return ast.unparse(ast.parse(text, mode="eval"))
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None


def asserts(lines: list[str], ctx: Context, used: set[int]) -> list[TestCase]:
    tests: list[TestCase] = []
    for i, line in enumerate(lines):
        if i in used or not re.match(r"^\s*assert\b", line):
            continue
        for end in range(i + 1, min(i + 6, len(lines)) + 1):
            code = "\n".join(part.strip() for part in lines[i:end])
            try:
                tree = ast.parse(code)
            except SyntaxError:
                continue
            used.update(range(i, end))
            called = [
                n.func.id
                for n in ast.walk(tree)
                if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
            ]
            entry = called[0] if called else ctx.entry_point
            tests.append(code_test(code, code[:80], entry))
            break
    return tests


def informal(lines: list[str], ctx: Context, used: set[int]) -> list[TestCase]:
    tests: list[TestCase] = []
    for i, line in enumerate(lines):
        match = _ARROW.match(line) if i not in used else None
        if match is None:
            continue
        call, expected = literal_call(match.group(1)), literal(match.group(2))
        if call is None or expected is None:
            continue
        used.add(i)
        name = ctx.bind(call[0])
        text = f"{name}({call[1]})"
        tests.append(ctx.equality(name, text, f"({expected})", text))
    return tests
