"""One problem sent to the gateway as an IDE would send it, and what came back.

Every request is a plain chat completion (one user message, temperature 0, max_tokens)
with the settings in the `x-atlas-k` header and the `"atlas": {"k", "repair", "debug"}`
body field. Best-of-k raises the temperature of its candidates itself; k = 1 with no
repair rounds is the model alone (a pass-through). The oracle of plain sampling sends
the model alone's request `samples` times at `ORACLE_TEMPERATURE` with seeds 0, 1, ...
A failed request is a `Reply` with its status and message, never an exception.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import httpx
import msgspec

from bench.live_data import Problem, user_message

CLIENT_TIMEOUT_S = 600.0
DEFAULT_MAX_TOKENS = 768
K_HEADER = "x-atlas-k"
# The gateway's own sampling temperature for k <= 5 (`temperature_small_k` in
# config.strategy), so the oracle samples as best-of-k's candidates do.
ORACLE_TEMPERATURE = 0.6


class Setting(msgspec.Struct, frozen=True, kw_only=True, order=True):
    k: int
    repair: int = 0
    samples: int = 0  # > 0: the oracle of that many plain (k = 1) samples
    temperature: float = 0.0

    @property
    def oracle(self) -> bool:
        return self.samples > 0

    @property
    def alone(self) -> bool:
        return self.k == 1 and self.repair == 0 and not self.oracle

    @property
    def key(self) -> str:
        if self.oracle:
            return f"oracle{self.samples}-t{self.temperature:g}"
        return f"k{self.k}-r{self.repair}"

    @property
    def label(self) -> str:
        if self.oracle:
            return f"plain sampling, oracle pass@{self.samples}"
        return "model alone" if self.alone else f"k={self.k}, repair={self.repair}"


MODEL_ALONE = Setting(k=1, repair=0)


def oracle_setting(samples: int, temperature: float = ORACLE_TEMPERATURE) -> Setting:
    """`samples` pass-through requests (k = 1, no repair) at `temperature`."""
    return Setting(k=1, repair=0, samples=samples, temperature=temperature)


class Reply(msgspec.Struct, kw_only=True):
    status: int  # 0: no HTTP answer (connection refused, timeout)
    wall_s: float
    content: str = ""
    finish_reason: str | None = None
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    tokens: int = 0
    debug: Any = None  # the answer's `atlas` object (best-of-k with debug)
    error: str | None = None

    @property
    def candidates(self) -> int:
        """x-atlas-candidates, else 1 for an answer (a pass-through) and 0 for a failure."""
        value = self.headers.get("x-atlas-candidates")
        if value is not None and value.isdigit():
            return int(value)
        return 1 if self.error is None else 0


def settings_for(
    ks: Iterable[int], repairs: Iterable[int], oracle: Setting | None = None
) -> list[Setting]:
    """The model alone first, then every (k, repair) combination, each once, then the
    oracle of plain sampling when asked for."""
    combos = {Setting(k=k, repair=r) for k in ks for r in repairs} - {MODEL_ALONE}
    return [MODEL_ALONE, *sorted(combos), *([oracle] if oracle else [])]


def request_body(
    model: str, problem: Problem, setting: Setting, max_tokens: int, seed: int | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": user_message(problem)}],
        "max_tokens": max_tokens,
        "temperature": setting.temperature or 0,
        "atlas": {"k": setting.k, "repair": setting.repair, "debug": True},
    }
    if seed is not None:
        body["seed"] = seed
    return body


def chat_url(base_url: str) -> str:
    return gateway_root(base_url) + "/v1/chat/completions"


def gateway_root(base_url: str) -> str:
    """The gateway's root URL, with or without a trailing /v1 given."""
    return base_url.rstrip("/").removesuffix("/v1")


async def ask(client: httpx.AsyncClient, url: str, body: dict[str, Any], setting: Setting) -> Reply:
    """POST one chat completion; the reply, or the failure, with its wall time."""
    started = time.perf_counter()
    try:
        response = await client.post(url, json=body, headers={K_HEADER: str(setting.k)})
    except httpx.HTTPError as exc:
        return Reply(status=0, wall_s=time.perf_counter() - started, error=_describe(exc))
    wall = time.perf_counter() - started
    headers = atlas_headers(response.headers)
    if response.status_code != 200:
        message = f"HTTP {response.status_code}: {_error_message(response)}"
        return Reply(status=response.status_code, wall_s=wall, headers=headers, error=message)
    return parse_answer(response.content, wall, headers)


def parse_answer(raw: bytes, wall_s: float, headers: dict[str, str]) -> Reply:
    """A 200 answer's content, usage and debug object; malformed JSON is a failure."""
    try:
        data = msgspec.json.decode(raw)
        choice = data["choices"][0]
        content = choice["message"].get("content") or ""
    except (msgspec.DecodeError, KeyError, IndexError, TypeError, AttributeError) as exc:
        error = f"malformed answer ({type(exc).__name__}): {raw[:200]!r}"
        return Reply(status=200, wall_s=wall_s, headers=headers, error=error)
    usage = data.get("usage") or {}
    tokens = headers.get("x-atlas-total-tokens", "")
    return Reply(
        status=200,
        wall_s=wall_s,
        content=content,
        finish_reason=choice.get("finish_reason"),
        headers=headers,
        tokens=int(tokens) if tokens.isdigit() else int(usage.get("total_tokens") or 0),
        debug=data.get("atlas"),
    )


async def served_models(client: httpx.AsyncClient, base_url: str) -> list[str]:
    """The model ids /v1/models lists."""
    response = await client.get(gateway_root(base_url) + "/v1/models")
    response.raise_for_status()
    return [str(card["id"]) for card in response.json().get("data", [])]


def atlas_headers(headers: httpx.Headers) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items() if k.lower().startswith("x-atlas-")}


def _error_message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
    except ValueError:
        error = None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])[:300]
    return response.text[:300] or response.reason_phrase


def _describe(exc: httpx.HTTPError) -> str:
    return f"{type(exc).__name__}: {exc}"[:300] if str(exc) else type(exc).__name__
