"""The exact text the Lens embeds for one candidate.

    ### Problem
    <problem statement, stripped, cut to MAX_PROBLEM_CHARS>

    ### Candidate solution
    <candidate code, stripped, cut to MAX_CODE_CHARS>

The problem comes first so the embedding places the code in the context of
the task it must solve; the same code under two problems embeds differently.
Truncation keeps the head of each part and marks the cut, so the text stays
inside a small embedding model's context (about 2k tokens for both parts).
"""

from __future__ import annotations

import hashlib

MAX_PROBLEM_CHARS = 3000
MAX_CODE_CHARS = 5000
TRUNCATION_MARK = "\n[...truncated]"
FEATURE_VERSION = "v1"  # part of the cache key; bump when the template changes


def _cut(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + TRUNCATION_MARK


def feature_text(problem: str, code: str) -> str:
    """The text embedded for a candidate `code` answering `problem`."""
    return (
        f"### Problem\n{_cut(problem, MAX_PROBLEM_CHARS)}\n\n"
        f"### Candidate solution\n{_cut(code, MAX_CODE_CHARS)}\n"
    )


def content_hash(model_id: str, text: str) -> str:
    """sha256 over the embedding model id, the template version and the text."""
    h = hashlib.sha256()
    for part in (model_id, FEATURE_VERSION, text):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()
