from gateway.strategies.best_of_k.signature_inputs import MAX_SIGNATURE_CALLS, signature_calls

STUB = '''Complete the following Python function:
```python
from typing import List


def below_zero(operations: List[int],
               strict: bool) -> bool:
    """ Whether the balance falls below zero. """
```'''


def test_typed_parameters_get_small_values_one_parameter_at_a_time() -> None:
    calls = signature_calls(STUB, "below_zero")
    assert calls[0] == "below_zero([], True)"
    assert "below_zero([3, 1, 10], True)" in calls
    assert "below_zero([-2, 0, 1, 3, 10], True)" in calls  # sorted
    assert len(calls) == len(set(calls)) <= MAX_SIGNATURE_CALLS
    every = signature_calls("def f(x: int, y: str, z: float):", "f")
    assert "f(3, 'abc', 2.5)" in every and "f(-2, 'abc', 2.5)" in every


def test_the_calls_are_valid_python_of_the_stated_types() -> None:
    import ast

    for call in signature_calls("def g(names: list[str], key: Optional[int]) -> int:", "g"):
        node = ast.parse(call, mode="eval").body
        assert isinstance(node, ast.Call) and len(node.args) == 2
        names, key = (ast.literal_eval(arg) for arg in node.args)
        assert all(isinstance(n, str) for n in names) and (key is None or isinstance(key, int))
    assert signature_calls("def h(xs: List[Optional[int]]):", "h")  # None is not sorted


def test_no_inputs_without_a_type_for_every_parameter() -> None:
    assert signature_calls("def solution(lst):\n    pass", "solution") == []
    assert signature_calls("def f(x: int, y):", "f") == []
    assert signature_calls("def f(x: MyType):", "f") == []
    assert signature_calls("def f(x: int = 3):", "f") == []
    assert signature_calls("def f(*args: int):", "f") == []
    assert signature_calls("def f():", "f") == []
    assert signature_calls("def f(x: int):", None) == []
    assert signature_calls("def other(x: int):", "f") == []
    long = "def f(" + ", ".join(f"x{i}: int" for i in range(400)) + "):"
    assert signature_calls(long, "f") == []  # past the cap: not parsed
