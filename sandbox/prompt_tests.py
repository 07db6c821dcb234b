"""Turn the examples written in a prompt into runnable tests.

Three shapes are recognised: doctests (`>>> f(2)` then `4`), `assert` lines, and
"Example / Input / Output" blocks. Informal examples (`f(2) == 4`, `f(2) = 4`, `f(2) ➞ 4`,
`f(2) should return 4`) count too, but only with literal arguments and results, so
a sloppy example cannot fail a correct program. A call to a name the prompt does not
define is bound to the entry point (prompts sometimes name the function differently).
"""

from __future__ import annotations

import ast
import re

from sandbox.request_tests import code_test
from sandbox.verdict import TestCase

# Every pattern here is linear in its input: none has two quantifiers that can take the
# same characters (the old `\s*(.+?)\s*\.?\s*$` was cubic in a run of spaces), and `^`
# with MULTILINE is followed by `[^\S\n]*`, never by `\s*`, which ran over every newline
# after each line start (quadratic in a run of newlines).
_DEF = re.compile(r"^[^\S\n]*def\s+(\w+)\s*\(", re.MULTILINE)
# An informal example, `f(2) == 4`, in two linear steps: an optional bullet and
# `name(`, then the arrow: the last `)` followed by one, with something after it.
_CALL_START = re.compile(r"\s*(?:[*-]\s*)?([A-Za-z_]\w*)\(")
_ARROW = re.compile(r"\)\s*(?:==>|=>|➞|->|==|should return|returns)(?=.)")
# `simplify("1/5", "5/1") = True`: a lone `=`, which prompts also use for definitions
# (`tri(1) = 3` of a function returning lists), hence the type rule in `informal`.
_EQUALS = re.compile(r"\)[^\S\n]*=(?![=>])(?=.)")
HEADER = re.compile(
    r"^\s*(?:sample\s+|example\s+)?(input|output)s?(?:\s*(?:#\s*)?\d+)?\s*:?\s*(.*)$",
    re.IGNORECASE,
)
STOP = re.compile(
    r"^\s*(example|explanation|note|constraints?|input|output|sample)\b"
    r"|^\s*(```|\"\"\"|''')",
    re.IGNORECASE,
)
_ASSERT = re.compile(r"\s*assert\b")
# Where each extractor looks, found by searching the whole prompt for a literal its
# per-line pattern needs (re skips ahead to a literal; a leading `^` or IGNORECASE makes
# it try every position, ten times slower). The per-line pattern then decides.
_DOCTEST_LINE = re.compile(">>>")
_ASSERT_LINE = re.compile("assert")
_ARROW_LINE = re.compile(r"\)[^\S\n]*(?:==>|=>|➞|->|=|should return|returns)")  # `=`: _EQUALS
HEADER_LINE = re.compile("put")  # in the lower-cased prompt: "input" or "output"
# Bounds on the work one prompt can cause, whatever its text. Real problem statements
# are far inside them. A prompt longer than MAX_PROMPT_CHARS is not analysed at all; an
# example longer than MAX_EXAMPLE_CHARS is skipped; the examples tried cost at most
# MAX_PARSED_CHARS, each its length plus EXAMPLE_OVERHEAD_CHARS (deeply nested
# expressions parse at about 1 us a character; a tiny example costs some 60 us to
# parse, check and unparse); the first MAX_PROMPT_TESTS distinct tests are kept.
MAX_PROMPT_CHARS = 100_000
MAX_EXAMPLE_CHARS = 4_000
MAX_PARSED_CHARS = 50_000
EXAMPLE_OVERHEAD_CHARS = 100
MAX_PROMPT_TESTS = 100
MAX_CANDIDATE_LINES = 2_000  # lines each extractor looks at
# What ast.parse raises on hostile text: null bytes, nesting too deep for the parser.
PARSE_ERRORS = (SyntaxError, ValueError, MemoryError, RecursionError)
_JSONISH = {"true": "True", "false": "False", "null": "None", "none": "None"}


def literal(text: str) -> str | None:
    """`text` as a Python literal expression, or None if it is not one."""
    text = _JSONISH.get(text.strip().lower(), text.strip())
    try:
        tree = ast.parse(text, mode="eval")
        ast.literal_eval(tree)
        return ast.unparse(tree)  # drops a trailing `# comment`
    except (*PARSE_ERRORS, TypeError):
        return None


def literal_call(call: str) -> tuple[str, str] | None:
    """(function name, argument text) of a call whose arguments are all literals."""
    try:
        node = ast.parse(call.strip(), mode="eval").body
    except PARSE_ERRORS:
        return None
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        return None
    try:
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            ast.literal_eval(arg)
    except (*PARSE_ERRORS, TypeError):
        return None
    if any(k.arg is None for k in node.keywords):
        return None
    open_paren = call.index("(")
    return node.func.id, call.strip()[open_paren:][1:-1] if call.strip().endswith(")") else ""


def defined_functions(text: str) -> list[str]:
    """Names of the functions `text` defines (`def name(` at a line start), in order."""
    return _DEF.findall(text)


class Context:
    def __init__(self, prompt: str, entry_point: str | None) -> None:
        defined = defined_functions(prompt)
        self.defined = set(defined)
        self.entry_point = entry_point or (defined[-1] if defined else None)
        self._parse_budget = MAX_PARSED_CHARS

    def affords(self, text: str) -> bool:
        """Whether `text` may be parsed, spending its cost from the prompt's budget."""
        cost = len(text) + EXAMPLE_OVERHEAD_CHARS
        if len(text) > MAX_EXAMPLE_CHARS or cost > self._parse_budget:
            return False
        self._parse_budget -= cost
        return True

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
    for start in lines_with("\n".join(lines), _DOCTEST_LINE):
        if start < i or not lines[start].strip().startswith(">>>"):
            continue
        i = start
        used, source = [i], [lines[i].strip()[3:].strip()]
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


def lines_with(text: str, marker: re.Pattern[str]) -> list[int]:
    """Numbers of the first MAX_CANDIDATE_LINES lines of `text` where `marker` (which
    never matches a newline) is found: one search over the text, so an extractor spends
    per-line work only on lines that may hold an example."""
    found: list[int] = []
    number, start = 0, 0  # the line beginning at `start`
    while len(found) < MAX_CANDIDATE_LINES and (hit := marker.search(text, start)):
        number += text.count("\n", start, hit.start())
        found.append(number)
        start = text.find("\n", hit.start()) + 1
        if start == 0:
            break
        number += 1
    return found


def doctests(lines: list[str], ctx: Context, used: set[int]) -> list[TestCase]:
    tests: list[TestCase] = []
    setup: list[str] = []
    for source, expected, numbers in _doctest_examples(lines):
        used.update(numbers)
        if not ctx.affords(source + expected):
            break  # later examples may depend on this one: none rather than wrong ones
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
    except PARSE_ERRORS:
        return None


def asserts(lines: list[str], ctx: Context, used: set[int]) -> list[TestCase]:
    tests: list[TestCase] = []
    for i in lines_with("\n".join(lines), _ASSERT_LINE):
        if i in used or not _ASSERT.match(lines[i]):
            continue
        for end in range(i + 1, min(i + 6, len(lines)) + 1):
            code = "\n".join(part.strip() for part in lines[i:end])
            if not ctx.affords(code):
                break
            try:
                tree = ast.parse(code)
            except PARSE_ERRORS:
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


def informal_example(line: str, arrow_pattern: re.Pattern[str] = _ARROW) -> tuple[str, str] | None:
    """(call, expected) of a line like `- f(2) == 4.`: the last `)` followed by an arrow
    ends the call; the expected text is what follows, without surrounding space and one
    final full stop."""
    start = _CALL_START.match(line)
    if start is None:
        return None
    arrow = None
    for match in arrow_pattern.finditer(line, start.end()):
        arrow = match
    if arrow is None:
        return None
    rest = line[arrow.end() :].lstrip()
    if not rest:
        return None  # only spaces after the arrow: no expected value
    expected = rest.rstrip()
    expected = expected.removesuffix(".").rstrip() if expected.endswith(".") else expected
    return line[start.start(1) : arrow.start() + 1], expected or rest[0]


def informal(lines: list[str], ctx: Context, used: set[int]) -> list[TestCase]:
    tests: list[TestCase] = []
    equations: list[tuple[TestCase, type]] = []
    for i in lines_with("\n".join(lines), _ARROW_LINE):
        if i in used or not ctx.affords(lines[i]):
            continue
        example = informal_example(lines[i])
        is_equation = example is None
        if is_equation:
            example = informal_example(lines[i], _EQUALS)
        if example is None:
            continue
        call, expected = literal_call(example[0]), literal(example[1])
        if call is None or expected is None:
            continue
        used.add(i)
        name = ctx.bind(call[0])
        text = f"{name}({call[1]})"
        test = ctx.equality(name, text, f"({expected})", text)
        if is_equation:
            equations.append((test, type(ast.literal_eval(expected))))
        else:
            tests.append(test)
    # `f(x) = value` lines are examples only if they agree on the kind of value the
    # function returns; mixed kinds mean some describe something else (a recurrence).
    if len({kind for _, kind in equations}) == 1:
        tests.extend(test for test, _ in equations)
    return tests
