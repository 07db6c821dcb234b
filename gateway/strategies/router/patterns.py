"""The verified pattern cache's request side: which calls may be cached, their key, a
token-set sketch for near matches, Ebbinghaus retention, and the store's port.

The key hashes the normalised request: the model, the whole message list (roles and
text, trailing whitespace of lines dropped), the body's parameters that change what
the answer must be (not sampling ones: a verified answer is as good at any
temperature) and the request's tests. Near matches compare bottom-k sketches of the
last user message's word set (an estimate of their Jaccard similarity): one crc32 a
distinct word, nothing that a long text can make quadratic.
"""

from __future__ import annotations

import hashlib
import math
import re
import zlib
from collections.abc import Sequence
from typing import Any, Protocol

import msgspec
import numpy as np

from gateway.strategies.base import Call, Message

# Body fields that change what a correct answer is; sampling fields do not.
KEYED_FIELDS = (
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "response_format",
    "grammar",
    "json_schema",
    "logit_bias",
    "reasoning_effort",
)
SKETCH_SIZE = 64
PROBLEM_CHARS = 300  # of the problem text kept with an entry, for strategy hints
SKETCH_CHARS = 64 * 1024  # a sketch reads at most this much of the text
_WORD = re.compile(r"\w+")
_TRAILING = re.compile(r"[ \t]+$", re.MULTILINE)


class CacheEntry(msgspec.Struct, frozen=True, kw_only=True):
    """A verified answer: its completion JSON (winner's data), its checked code and the
    start of the problem it solved (for strategy hints; "" in entries stored before)."""

    completion: dict[str, Any]
    code: str
    language: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    problem: str = ""


class Lookup(msgspec.Struct, frozen=True, kw_only=True):
    entry: CacheEntry | None  # the exact key's entry, still retained
    similarity: float  # best over the scope: 1.0 with an entry, else the best near match
    retention: float = 0.0  # the entry's retention when it was looked up
    # The most similar other entries of the scope (at least the model's
    # hint_min_similarity, most similar first, at most max_hints): strategy hints.
    near: tuple[str, ...] = ()


class Embedder(Protocol):
    """A model's embedding upstream (gateway/wiring/embeddings.py)."""

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


class Features(msgspec.Struct, frozen=True):
    """What near matches compare: the word-set sketch, and the embedding when the model
    has an embedding upstream (float32, unit length; b"" without one)."""

    sketch: bytes
    vector: bytes = b""


class PatternCache(Protocol):
    """Verified answers per (model, scope), with decay (gateway/wiring/pattern_store.py).
    Near-match similarity is the best cosine of the embeddings when both sides have
    one, else the best sketch similarity."""

    async def lookup(
        self, model: str, scope: str, key: str, features: Features, *, exact: bool = True
    ) -> Lookup:
        """`exact=False` ("atlas": {"cache": false}): the key's own entry is not read;
        the similarity is the best near match."""
        ...

    async def entries(self, model: str, scope: str, keys: Sequence[str]) -> list[CacheEntry]:
        """The entries of `keys` still stored and retained, in that order."""
        ...

    async def store(
        self, model: str, scope: str, key: str, features: Features, entry: CacheEntry
    ) -> None: ...

    async def reinforce(self, model: str, scope: str, key: str) -> None:
        """A successful reuse: the entry's strength grows (spaced repetition)."""
        ...

    async def evict(self, model: str, scope: str, key: str, reason: str) -> None: ...


def cacheable(call: Call) -> bool:
    """One user turn, no tools, no agent: multi-turn and agentic turns are not cached."""
    if call.has_tools or call.n != 1:
        return False
    users = 0
    for message in call.messages:
        if message.role == "user":
            users += 1
        elif message.role not in ("system", "developer"):
            return False
    return users == 1


def scope_of(tenant: str, shared: Sequence[str]) -> str:
    return "shared" if tenant in shared else f"t:{tenant}"


def _normalised(call: Call, body: dict[str, Any]) -> bytes:
    messages = [[m.role, _TRAILING.sub("", _text(m.content)).strip()] for m in call.messages]
    keyed = {f: body[f] for f in KEYED_FIELDS if body.get(f) is not None}
    return msgspec.json.encode(
        [call.model.name, messages, keyed, call.controls.tests], order="sorted"
    )


def request_key(call: Call, body: dict[str, Any]) -> str:
    return hashlib.sha256(_normalised(call, body)).hexdigest()


def sketch(text: str) -> bytes:
    """The SKETCH_SIZE smallest crc32 hashes of the text's distinct lower-cased words."""
    words = set(_WORD.findall(text[:SKETCH_CHARS].lower()))
    hashes = sorted({zlib.crc32(w.encode()) for w in words})[:SKETCH_SIZE]
    return b"".join(h.to_bytes(4, "big") for h in hashes)


def _hashes(data: bytes) -> set[int]:
    return {int.from_bytes(data[i : i + 4], "big") for i in range(0, len(data) - 3, 4)}


def similarity(a: bytes, b: bytes) -> float:
    """Bottom-k estimate of the Jaccard similarity of two word sets."""
    left, right = _hashes(a), _hashes(b)
    if not left or not right:
        return 0.0
    union = sorted(left | right)[:SKETCH_SIZE]
    both = left & right
    return sum(1 for h in union if h in both) / len(union)


def unit_vector(values: Sequence[float]) -> bytes:
    """float32 bytes of the vector scaled to length 1 (b"" for a zero vector)."""
    vector = np.asarray(values, dtype=np.float32)
    norm = float(np.linalg.norm(vector))
    return (vector / norm).tobytes() if norm > 0 else b""


def best_cosine(vector: bytes, others: Sequence[bytes]) -> float:
    """The best cosine of `vector` with `others` of the same width, clipped to [0, 1]."""
    return max(cosines(vector, others), default=0.0)


def cosines(vector: bytes, others: Sequence[bytes]) -> list[float]:
    """The cosine of `vector` with each of `others`, clipped to [0, 1]; 0 for one of
    another width."""
    query = np.frombuffer(vector, dtype=np.float32)
    same = [i for i, o in enumerate(others) if len(o) == len(vector)]
    values = [0.0] * len(others)
    if not len(query) or not same:
        return values
    rows = b"".join(others[i] for i in same)
    matrix = np.frombuffer(rows, dtype=np.float32).reshape(len(same), len(query))
    for i, value in zip(same, np.clip(matrix @ query, 0.0, 1.0).tolist(), strict=True):
        values[i] = float(value)
    return values


def retention(elapsed_s: float, strength_s: float) -> float:
    """Ebbinghaus: R = exp(-dt / S)."""
    return math.exp(-max(0.0, elapsed_s) / strength_s)


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def message_text(messages: Sequence[Message]) -> str:
    """The last user message's text, the part a near match compares."""
    for message in reversed(messages):
        if message.role == "user":
            return _text(message.content)
    return ""
