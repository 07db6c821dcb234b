"""Find fenced code blocks in a model's answer and tell their language."""

from __future__ import annotations

import re

import msgspec

from sandbox.config import Language

_FENCE = re.compile(
    r"^[ \t]*(```+|~~~+)[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:^[ \t]*\1[ \t]*$|\Z)",
    re.MULTILINE | re.DOTALL,
)

TAGS: dict[str, Language] = {
    "python": "python",
    "py": "python",
    "python3": "python",
    "py3": "python",
    "javascript": "javascript",
    "js": "javascript",
    "node": "javascript",
    "nodejs": "javascript",
    "mjs": "javascript",
    "c": "c",
    "h": "c",
    "cpp": "cpp",
    "c++": "cpp",
    "cc": "cpp",
    "cxx": "cpp",
    "hpp": "cpp",
    "bash": "bash",
    "sh": "bash",
    "shell": "bash",
    "zsh": "bash",
}


class CodeBlock(msgspec.Struct, frozen=True, kw_only=True):
    language: Language | None  # None: neither the tag nor the content told
    code: str
    tag: str = ""


def _looks_cpp(code: str) -> bool:
    return bool(
        re.search(
            r"#include\s*<(iostream|vector|string|bits/stdc\+\+\.h|algorithm|map)>"
            r"|\bstd::|\bnamespace\b|\btemplate\s*<|\bcout\b|\bclass\s+\w+\s*[{:]",
            code,
        )
    )


def detect_language(code: str) -> Language | None:
    """Guess the language of untagged code; None when nothing is telling."""
    first = code.lstrip().split("\n", 1)[0]
    if first.startswith("#!"):
        if "python" in first:
            return "python"
        if "node" in first:
            return "javascript"
        if re.search(r"\b(ba)?sh\b", first):
            return "bash"
    if re.search(r"^\s*#\s*include\b", code, re.MULTILINE) or re.search(r"\bint\s+main\s*\(", code):
        return "cpp" if _looks_cpp(code) else "c"
    if re.search(
        r"^\s*(def|class)\s+\w+.*:\s*$|^\s*(from\s+\w+\s+)?import\s+\w+|print\(", code, re.MULTILINE
    ) and not re.search(r"console\.log|;\s*$", code, re.MULTILINE):
        return "python"
    if re.search(
        r"console\.log|\bfunction\s+\w+\s*\(|=>|\b(const|let|var)\s+\w+\s*=|require\(", code
    ):
        return "javascript"
    if re.search(r"^\s*(echo|read|for \w+ in|if \[|fi$|done$)", code, re.MULTILINE):
        return "bash"
    return None


def extract_code_blocks(markdown: str) -> list[CodeBlock]:
    """Fenced blocks in order; an unterminated last fence (a cut-off answer) counts too."""
    blocks: list[CodeBlock] = []
    for match in _FENCE.finditer(markdown):
        tag = match.group(2).lower()
        code = match.group(3)
        if not code.strip():
            continue
        language = TAGS.get(tag) or detect_language(code)
        blocks.append(CodeBlock(language=language, code=code, tag=tag))
    return blocks
