"""SSE relay: one or more upstream streams become one faithful OpenAI event stream.

Each upstream stream is read by its own task into a bounded queue, so the relay can
send keep-alive comments while the upstream is quiet without cancelling a read
half-way, n > 1 choices interleave as they arrive, and a client that stops reading
holds at most QUEUE_SIZE events before the upstream is paused too.

The contract with the client: an upstream answer that is not an event stream is a 502
before any byte; after that, every event is checked to be a JSON chunk and re-framed
as one `data:` line, and a stream ends with a finish_reason then [DONE], or with an
error event then [DONE]: an upstream stream that ends before its finish_reason (half a
stream, then a clean EOF) is an error, never a short answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import msgspec

from engines import (
    ANONYMOUS,
    Asker,
    Dispatcher,
    EngineError,
    UpstreamPool,
    UpstreamProtocolError,
    sse_events,
)
from gateway.strategies.base import DONE, Chunk, Comment, Event, Failure, Report
from gateway.strategies.replies import check_event_stream, chunk_view, not_the_api, one_line
from gateway.strategies.tokens import TokenCounter
from gateway.strategies.upstream_call import UpstreamCall
from gateway.strategies.views import Usage

logger = logging.getLogger(__name__)

KEEPALIVE = Comment("keep-alive")
# Events buffered per stream between the upstream reader and the client: a few suffice
# to decouple them, and an event may be large (64 KB chunks: 200 slow readers held 4 MB
# each at 64 events).
QUEUE_SIZE = 8
# Text kept per choice to count tokens should the upstream report no usage; beyond it,
# characters are counted and estimated at CHARS_PER_TOKEN, so memory stays bounded.
MAX_KEPT_CHARS = 64 * 1024
CHARS_PER_TOKEN = 4


@dataclass(slots=True)
class StreamPlan:
    pool: UpstreamPool
    path: str
    bodies: list[bytes]
    headers: Mapping[str, str]
    include_usage: bool
    keepalive_s: float
    prompt_text: str
    # Rewrites each upstream payload (llama-server /infill to OpenAI chunks).
    translate: Callable[[str], str | None] | None = None
    usage_template: dict[str, Any] = field(default_factory=dict)
    asker: Asker = ANONYMOUS  # whose request, for the pool's fair queue


@dataclass(slots=True)
class _Opened:
    index: int
    upstream: str


@dataclass(slots=True)
class _Event:
    index: int
    kind: str
    data: str


@dataclass(slots=True)
class _End:
    index: int


@dataclass(slots=True)
class _Failed:
    index: int
    error: EngineError


_Item = _Opened | _Event | _End | _Failed


async def _read_upstream(
    dispatcher: Dispatcher, plan: StreamPlan, index: int, queue: asyncio.Queue[_Item]
) -> None:
    try:
        async with dispatcher.stream(
            plan.pool, plan.path, plan.bodies[index], plan.headers, plan.asker
        ) as (upstream, response):
            check_event_stream(response.headers.get("content-type", ""), upstream.url)
            await queue.put(_Opened(index, upstream.url))
            async for kind, data in sse_events(response, upstream.url):
                if '"timings"' in data:
                    dispatcher.observe_reply(upstream.url, data.encode())
                await queue.put(_Event(index, kind, data))
        await queue.put(_End(index))
    except EngineError as exc:
        await queue.put(_Failed(index, exc))


@dataclass(slots=True)
class _Tally:
    """What the relay saw, for usage when the upstream reports none."""

    usage: list[Usage | None]
    texts: list[list[str]]
    kept: list[int]  # characters in texts
    extra: list[int]  # characters past MAX_KEPT_CHARS, not kept
    upstreams: list[str | None]
    finished: list[bool]  # a finish_reason arrived for that stream
    template: dict[str, Any] | None = None
    failed: bool = False


async def relay(
    dispatcher: Dispatcher, plan: StreamPlan, tokens: TokenCounter
) -> AsyncGenerator[Event | None, None]:
    """Yield None once every upstream accepted (errors before that raise), then events."""
    n = len(plan.bodies)
    queue: asyncio.Queue[_Item] = asyncio.Queue(QUEUE_SIZE)
    tasks = [asyncio.create_task(_read_upstream(dispatcher, plan, i, queue)) for i in range(n)]
    tally = _Tally(
        usage=[None] * n,
        texts=[[] for _ in range(n)],
        kept=[0] * n,
        extra=[0] * n,
        upstreams=[None] * n,
        finished=[False] * n,
    )
    try:
        early = await _wait_until_open(queue, n, tally)
        yield None
        async for event in _pump(queue, early, plan, n, tally):
            yield event
        if tally.failed:
            return
        usage = await _final_usage(plan, tally, tokens)
        yield Report(usage)
        if plan.include_usage:
            yield _usage_chunk(tally.template or plan.usage_template, usage)
        yield DONE
    finally:
        for task in tasks:
            task.cancel()
        # Shielded so that a repeated cancellation of this generator (anyio cancel
        # scopes re-deliver it) does not cancel the readers' own clean-up again.
        await asyncio.shield(asyncio.gather(*tasks, return_exceptions=True))


async def open_relay(
    dispatcher: Dispatcher,
    call: UpstreamCall,
    tokens: TokenCounter,
    *,
    keepalive_s: float,
    include_usage: bool,
    usage_template: dict[str, Any],
    translate: Callable[[str], str | None] | None = None,
) -> AsyncGenerator[Event, None]:
    """The relay of a pass-through call, already past its first step: once this returns,
    the upstream accepted, so every earlier failure got a proper HTTP status."""
    plan = StreamPlan(
        pool=call.pool,
        path=call.path,
        bodies=call.bodies,
        headers=call.headers,
        include_usage=include_usage,
        keepalive_s=keepalive_s,
        prompt_text=call.prompt_text,
        translate=translate,
        usage_template=usage_template,
        asker=call.asker,
    )
    events = relay(dispatcher, plan, tokens)
    await anext(events)
    # Past the primer only events follow: handed on as they are, not re-wrapped.
    return cast(AsyncGenerator[Event, None], events)


async def _wait_until_open(queue: asyncio.Queue[_Item], n: int, tally: _Tally) -> list[_Item]:
    opened, early = 0, list[_Item]()
    while opened < n:
        item = await queue.get()
        if isinstance(item, _Failed):
            raise item.error
        if isinstance(item, _Opened):
            opened += 1
            tally.upstreams[item.index] = item.upstream
        else:
            early.append(item)
    return early


async def _pump(
    queue: asyncio.Queue[_Item], early: list[_Item], plan: StreamPlan, n: int, tally: _Tally
) -> AsyncGenerator[Event, None]:
    ended = 0
    while ended < n:
        if early:
            item = early.pop(0)
        else:
            try:
                async with asyncio.timeout(plan.keepalive_s):
                    item = await queue.get()
            except TimeoutError:
                yield KEEPALIVE
                continue
        if isinstance(item, _End):
            ended += 1
            if not tally.finished[item.index]:
                tally.failed = True
                yield Failure(_cut(tally.upstreams[item.index]))
                return
        elif isinstance(item, _Failed):
            tally.failed = True
            yield Failure(item.error)
            return
        elif isinstance(item, _Event):
            try:
                chunk = _render(item, plan, n, tally)
            except EngineError as exc:
                tally.failed = True
                yield Failure(exc)
                return
            if chunk:
                yield chunk


def _cut(upstream: str | None) -> UpstreamProtocolError:
    return UpstreamProtocolError(
        "the upstream stream ended before its finish_reason", upstream=upstream
    )


def _render(item: _Event, plan: StreamPlan, n: int, tally: _Tally) -> Chunk | None:
    """The client's chunk for one upstream event, or None; raises EngineError when the
    event is an error, or not a chunk."""
    upstream = tally.upstreams[item.index]
    if item.kind == "error":
        raise UpstreamProtocolError(f"upstream stream error: {item.data}", upstream=upstream)
    data: str | None = item.data
    if data == "[DONE]":
        return None
    if plan.translate is not None:
        try:
            data = plan.translate(item.data)
        except msgspec.DecodeError as exc:
            raise not_the_api("an /infill stream event", exc, item.data, upstream) from None
    if data is None:
        return None
    view = chunk_view(data, upstream)
    data = one_line(data)
    if view.usage is not None:
        tally.usage[item.index] = view.usage
    choices = view.choices or []
    for choice in choices:
        text = choice.delta.content if choice.delta is not None else choice.text
        if text:
            _keep(tally, item.index, text)
        if choice.finish_reason:
            tally.finished[item.index] = True
    if not choices and view.usage is not None:
        return None  # the usage chunk is re-sent once, at the end, if the client asked
    if n == 1:
        if tally.template is None:
            tally.template = _template(msgspec.json.decode(data))
        return Chunk(data.encode())
    return _reindex(data, item.index, tally)


def _reindex(data: str, index: int, tally: _Tally) -> Chunk:
    chunk: dict[str, Any] = msgspec.json.decode(data)
    for choice in chunk.get("choices") or ():
        choice["index"] = index
    chunk.pop("usage", None)
    if tally.template is None:
        tally.template = _template(chunk)
    return Chunk(msgspec.json.encode(chunk))


def _template(chunk: Any) -> dict[str, Any]:
    if not isinstance(chunk, dict):
        return {}
    return {
        k: chunk[k]
        for k in ("id", "object", "created", "model", "system_fingerprint")
        if k in chunk
    }


async def _final_usage(plan: StreamPlan, tally: _Tally, tokens: TokenCounter) -> Usage:
    if all(u is not None for u in tally.usage):
        reported = [u for u in tally.usage if u is not None]
        prompt = reported[0].prompt_tokens
        completion = sum(u.completion_tokens for u in reported)
        return Usage(
            prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
        )
    counted = await tokens.usage(plan.prompt_text, ("".join(t) for t in tally.texts))
    estimated = -(-sum(tally.extra) // CHARS_PER_TOKEN)
    if not estimated:
        return counted
    completion = counted.completion_tokens + estimated
    return Usage(
        prompt_tokens=counted.prompt_tokens,
        completion_tokens=completion,
        total_tokens=counted.prompt_tokens + completion,
    )


def _keep(tally: _Tally, index: int, text: str) -> None:
    if tally.kept[index] < MAX_KEPT_CHARS:
        tally.texts[index].append(text)
        tally.kept[index] += len(text)
    else:
        tally.extra[index] += len(text)


def _usage_chunk(template: dict[str, Any], usage: Usage) -> Chunk:
    chunk = {**template, "choices": [], "usage": msgspec.to_builtins(usage)}
    return Chunk(msgspec.json.encode(chunk))
