from __future__ import annotations

import pytest

from sandbox import CodeBlock, detect_language, extract_code_blocks

ANSWER = """Here is my solution:

```python
def add(a, b):
    return a + b
```

And a C version:

```c
int add(int a, int b) { return a + b; }
```

~~~
console.log(1 + 2);
~~~
"""


def test_blocks_in_order_with_their_tags() -> None:
    blocks = extract_code_blocks(ANSWER)
    assert [b.language for b in blocks] == ["python", "c", "javascript"]
    assert blocks[0] == CodeBlock(
        language="python", code="def add(a, b):\n    return a + b\n", tag="python"
    )


def test_unterminated_fence_still_counts() -> None:
    blocks = extract_code_blocks("```cpp\n#include <vector>\nint main() {")
    assert blocks == [CodeBlock(language="cpp", code="#include <vector>\nint main() {", tag="cpp")]


def test_no_fence_no_block() -> None:
    assert extract_code_blocks("just prose, no code") == []


@pytest.mark.parametrize(
    ("code", "language"),
    [
        ("def f(x):\n    return x\n", "python"),
        ("import sys\nprint(sys.argv)\n", "python"),
        ("#!/usr/bin/env python3\nx = 1\n", "python"),
        ("#include <stdio.h>\nint main(void) { return 0; }\n", "c"),
        ("#include <iostream>\nint main() { std::cout << 1; }\n", "cpp"),
        ("const x = [1, 2].map(v => v * 2);\nconsole.log(x);\n", "javascript"),
        ("#!/bin/bash\necho hi\n", "bash"),
        ("read n\necho $((n * 2))\n", "bash"),
        ("the quick brown fox\n", None),
    ],
)
def test_detect_language_by_content(code: str, language: str | None) -> None:
    assert detect_language(code) == language


def test_tag_wins_over_content() -> None:
    assert extract_code_blocks("```sh\nprint('x')\n```")[0].language == "bash"
