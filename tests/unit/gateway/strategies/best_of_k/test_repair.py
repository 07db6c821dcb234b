from gateway.strategies.best_of_k.repair import compared_call, readable_test, repair_prompt
from gateway.strategies.best_of_k.verification import FailedTest
from sandbox import extract_prompt_tests

BARE = "assertion failed: assert add(1, 2) == 3"


def test_a_prompt_example_is_shown_as_the_assert_it_stands_for() -> None:
    prompt = 'def add(a, b):\n    """\n    >>> add(1, 2)\n    3\n    """\n'
    (example,) = extract_prompt_tests(prompt, "add")
    assert readable_test(example.code) == "assert add(1, 2) == 3"
    assert readable_test("assert f(1) == 2\n") == "assert f(1) == 2"
    assert readable_test("_atlas_actual = (") == "_atlas_actual = ("


def test_the_probed_call_is_what_a_bare_assert_compared() -> None:
    assert compared_call(FailedTest("assert add(1, 2) == 3", BARE)) == "add(1, 2)"
    assert compared_call(FailedTest("assert 3 == add(1, 2)", BARE)) == "add(1, 2)"
    closeness = "assert abs(area(2) - 12.56) < 0.01"
    assert compared_call(FailedTest(closeness, "assertion failed: " + closeness)) == "area(2)"
    assert compared_call(FailedTest("assert not is_odd(3)", BARE)) == "is_odd(3)"


def test_nothing_is_probed_when_the_reason_already_tells() -> None:
    raised = FailedTest("assert add(1, 2) == 3", "TypeError: unsupported operand")
    assert compared_call(raised) is None
    example = FailedTest("_atlas_actual = (add(1, 2)\n)\n", "assertion failed: expected 3, got -1")
    assert compared_call(example) is None
    assert compared_call(FailedTest("assert x == 3", "assertion failed: assert x == 3")) is None
    assert compared_call(FailedTest("a = 1\nassert add(a, 2) == 3", BARE)) is None
    assert compared_call(FailedTest("assert (", BARE)) is None


def test_the_repair_prompt_shows_the_returned_value_and_asks_for_the_whole_function() -> None:
    failures = [FailedTest("assert add(1, 2) == 3", BARE), FailedTest("assert add(0, 0) == 0", "x")]
    prompt = repair_prompt(failures, ["-1", None], "add")
    assert "Your code does not pass 2 tests" in prompt
    assert "`add(1, 2)` returned `-1`." in prompt
    assert prompt.count("returned") == 1
    assert "the whole `add` function and everything it uses" in prompt
    assert "the whole" not in repair_prompt(failures[:1])
