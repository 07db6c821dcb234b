"""Tests supplied with a request: the `"atlas": {"tests": [...]}` extension field.

Each item of the list is one of:
  - a string: Python code run after the candidate, in its namespace; it passes if it
    raises nothing ("assert add(1, 2) == 3"). Several asserts in one string make one test;
    code that defines test_* functions is run pytest-style, one result per function;
  - {"input": str, "output": str}: stdin/stdout case for any language; output is compared
    ignoring trailing whitespace, with a tolerance for floats;
  - {"code": str, "name"?: str, "entry_point"?: str}: like a string, named.
At most MAX_TESTS items, each under MAX_TEST_BYTES.
"""

from __future__ import annotations

import re

from sandbox.errors import InvalidTestsError
from sandbox.verdict import TestCase, TestKind

MAX_TESTS = 100
MAX_TEST_BYTES = 64 * 1024
_PYTEST_FUNCTION = re.compile(r"^(?:async\s+)?def\s+test\w*\s*\(", re.MULTILINE)


def code_test(code: str, name: str = "", entry_point: str | None = None) -> TestCase:
    kind: TestKind = "pytest" if _PYTEST_FUNCTION.search(code) else "assert"
    return TestCase(kind=kind, name=name, code=code, entry_point=entry_point)


def _text(item: dict[str, object], key: str, index: int, *, required: bool = True) -> str:
    value = item.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise InvalidTestsError(f"atlas.tests[{index}].{key} must be a string")
    if len(value.encode()) > MAX_TEST_BYTES:
        raise InvalidTestsError(f"atlas.tests[{index}].{key} is larger than {MAX_TEST_BYTES} bytes")
    return value


def _parse_item(item: object, index: int) -> TestCase:
    name = f"request_{index}"
    if isinstance(item, str):
        return code_test(_text({"code": item}, "code", index), name)
    if not isinstance(item, dict):
        raise InvalidTestsError(f"atlas.tests[{index}] must be a string or an object")
    unknown = set(item) - {"input", "output", "code", "name", "entry_point"}
    if unknown:
        raise InvalidTestsError(f"atlas.tests[{index}] has unknown keys: {sorted(unknown)}")
    name = _text(item, "name", index, required=False) or name
    if "code" in item:
        entry = _text(item, "entry_point", index, required=False) or None
        return code_test(_text(item, "code", index), name, entry)
    if "output" not in item:
        raise InvalidTestsError(f"atlas.tests[{index}] needs either 'code' or 'output'")
    return TestCase(
        kind="io",
        name=name,
        stdin=_text(item, "input", index, required=False),
        expected_stdout=_text(item, "output", index),
    )


def parse_request_tests(raw: object) -> list[TestCase]:
    """Validate the `tests` list of the request's `atlas` field; errors name the item."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidTestsError("atlas.tests must be a list")
    if len(raw) > MAX_TESTS:
        raise InvalidTestsError(f"atlas.tests has {len(raw)} items; at most {MAX_TESTS}")
    return [_parse_item(item, index) for index, item in enumerate(raw)]
