"""Example / Input / Output blocks of a prompt: stdin/stdout cases or function calls."""

from __future__ import annotations

from sandbox import prompt_tests as pt
from sandbox.verdict import TestCase


def _section(lines: list[str], start: int, inline: str, stop_blank: bool) -> tuple[list[str], int]:
    """Lines of one section from `start`, with the header's inline text first."""
    body = [inline] if inline.strip() else []
    i = start
    while i < len(lines):
        line = lines[i]
        if pt.STOP.match(line):
            break
        if not line.strip() and (stop_blank or body):
            if stop_blank or (body and i + 1 < len(lines) and pt.STOP.match(lines[i + 1])):
                break
        body.append(line.rstrip())
        i += 1
    while body and not body[-1].strip():
        body.pop()
    return body, i


def _pairs(lines: list[str]) -> list[tuple[list[str], list[str]]]:
    pairs: list[tuple[list[str], list[str]]] = []
    i = 0
    # Line numbers survive lower-casing: no character becomes or stops being a newline.
    for start in pt.lines_with("\n".join(lines).lower(), pt.HEADER_LINE):
        if start < i:
            continue
        header = pt.HEADER.match(lines[start])
        if header is None or header.group(1).lower() != "input":
            continue
        given, i = _section(lines, start + 1, header.group(2), stop_blank=False)
        while i < len(lines) and not lines[i].strip():
            i += 1
        out = pt.HEADER.match(lines[i]) if i < len(lines) else None
        if out is None or out.group(1).lower() != "output":
            continue
        expected, i = _section(lines, i + 1, out.group(2), stop_blank=True)
        if expected:
            pairs.append((given, expected))
    return pairs


def _as_call(given: list[str], expected: list[str], ctx: pt.Context) -> TestCase | None:
    if ctx.entry_point is None or len(given) != 1 or len(expected) != 1:
        return None
    if not ctx.affords(given[0] + expected[0]):
        return None
    call = pt.literal_call(f"{ctx.entry_point}({given[0].strip()})")
    value = pt.literal(expected[0])
    if call is None or value is None:
        return None
    text = f"{ctx.entry_point}({call[1]})"
    return ctx.equality(ctx.entry_point, text, f"({value})", text)


def example_blocks(lines: list[str], ctx: pt.Context) -> list[TestCase]:
    """Function-call tests when the prompt defines a function, stdin/stdout cases otherwise."""
    tests: list[TestCase] = []
    for index, (given, expected) in enumerate(_pairs(lines)):
        if ctx.entry_point is not None:
            call = _as_call(given, expected, ctx)
            if call is not None:
                tests.append(call)
            continue
        stdin = "\n".join(line for line in given if not line.strip().startswith("```")) + "\n"
        output = "\n".join(line for line in expected if not line.strip().startswith("```"))
        tests.append(
            TestCase(kind="io", name=f"example_{index + 1}", stdin=stdin, expected_stdout=output)
        )
    return tests


def extract_prompt_tests(prompt: str, entry_point: str | None = None) -> list[TestCase]:
    """Runnable tests from the examples of a prompt, with the function name bound.

    Linear in the prompt's length, and bounded: a prompt over `MAX_PROMPT_CHARS` yields
    none, and at most `MAX_PROMPT_TESTS` are returned (see sandbox/prompt_tests.py)."""
    if len(prompt) > pt.MAX_PROMPT_CHARS:
        return []
    lines = prompt.replace("\r\n", "\n").split("\n")
    ctx = pt.Context(prompt, entry_point)
    used: set[int] = set()
    tests = pt.doctests(lines, ctx, used)
    tests += pt.asserts(lines, ctx, used)
    tests += pt.informal(lines, ctx, used)
    if not tests:
        tests += example_blocks(lines, ctx)
    seen: set[str] = set()
    unique = []
    for test in tests:
        key = test.code + "\0" + test.stdin
        if key not in seen:
            seen.add(key)
            unique.append(test)
    return unique[: pt.MAX_PROMPT_TESTS]


__all__ = ["extract_prompt_tests"]
