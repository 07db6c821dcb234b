"""Answers that lean on the prompt's context: the import lines of the prompt's own code.

A prompt's stub often starts with `from typing import List`; an answer that repeats
only the function drops that line and raises NameError where the user runs it alone.
The choice (docs/architecture.md): complete the answer with the prompt's import lines
it uses but lacks, verify that code, and return exactly that code, so the message the
client gets contains the added lines. An answer that does not parse is left alone.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from typing import Any

from gateway.strategies.base import Message
from gateway.strategies.best_of_k.repair import bound_names, carried_over
from gateway.strategies.best_of_k.verification import Code, extract_code

# Only the start of a prompt is scanned, line by line: linear and bounded.
MAX_PROMPT_LINES = 2_000
MAX_IMPORT_LINE = 300


def prompt_imports(prompt: str) -> list[str]:
    """Top-level `import` / `from ... import` lines of the prompt, normalised."""
    found: list[str] = []
    for line in prompt.split("\n", MAX_PROMPT_LINES)[:MAX_PROMPT_LINES]:
        if len(line) > MAX_IMPORT_LINE or not line.startswith(("import ", "from ")):
            continue
        try:
            tree = ast.parse(line)
        except SyntaxError:
            continue
        if len(tree.body) == 1 and isinstance(tree.body[0], (ast.Import, ast.ImportFrom)):
            text = ast.unparse(tree.body[0])
            if text not in found:
                found.append(text)
    return found


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        names |= bound_names(node)
        if isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def missing_imports(code: str, imports: list[str]) -> list[str]:
    """The prompt's import lines that bind a name the code uses and does not bind."""
    if not imports:
        return []
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return []
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    bound = _top_level_names(tree)
    missing: list[str] = []
    for line in imports:
        node = ast.parse(line).body[0]
        assert isinstance(node, (ast.Import, ast.ImportFrom))
        names = bound_names(node)
        if names & used and not names & bound:
            missing.append(line)
    return missing


def with_message_text(data: dict[str, Any], text: str) -> dict[str, Any]:
    """A copy of a chat completion whose first message has `text` as its content."""
    choices = list(data.get("choices") or [])
    if not choices or not isinstance(choices[0], dict):
        return data
    first = dict(choices[0])
    first["message"] = {**(first.get("message") or {}), "content": text}
    return {**data, "choices": [first, *choices[1:]]}


def answer_code(
    content: str, entry_point: str | None, imports: list[str], parent_code: str | None
) -> tuple[str, Code | None]:
    """The answer's code, completed (the prompt's imports, the helpers a repair dropped),
    and the answer with that same code in it: verified code is returned code."""
    code = extract_code(content, entry_point)
    if code is None or code.language != "python":
        return content, code
    added = missing_imports(code.source, imports)
    if parent_code is not None:
        added += carried_over(parent_code, code.source)
    if not added:
        return content, code
    source = "\n".join(added) + "\n\n" + code.source
    return content.replace(code.source, source, 1), Code("python", source)


def problem_text(messages: Sequence[Message]) -> str:
    """The task best-of-k solves: the last user message's text (parts joined as they are)."""
    text: str | None = None
    for message in messages:
        if message.role == "user":
            content = message.content
            if isinstance(content, list):
                content = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            text = content if isinstance(content, str) else None
    return text or ""
