"""One pass-through upstream call: the bodies to send (n > 1 becomes n requests) and
sending them as JSON, each answer checked to be a completion, merged into one answer
that always carries usage."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

import msgspec

from engines import ANONYMOUS, Asker, Dispatcher, UpstreamPool, UpstreamReply
from gateway.strategies.replies import completion_view, not_the_api
from gateway.strategies.tokens import TokenCounter
from gateway.strategies.views import CompletionView, Usage

MAX_SEED = 2**31 - 1


class UpstreamCall(msgspec.Struct, frozen=True, kw_only=True):
    pool: UpstreamPool
    path: str
    bodies: list[bytes]
    headers: dict[str, str]
    prompt_text: str
    asker: Asker = ANONYMOUS  # whose request, for the pool's fair queue


def upstream_bodies(
    raw: bytes,
    *,
    n: int,
    seed: int | None,
    changes: dict[str, Any],
    drop: tuple[str, ...],
) -> list[bytes]:
    """One body per choice. n > 1 becomes n requests with seeds base, base+1, ...;
    the raw body is forwarded untouched when nothing needs to change."""
    if n == 1 and not changes and not drop:
        return [raw]
    body: dict[str, Any] = msgspec.json.decode(raw)
    for key in drop:
        body.pop(key, None)
    body.update(changes)
    if n == 1:
        return [msgspec.json.encode(body)]
    body.pop("n", None)
    base = seed if seed is not None else random.randrange(MAX_SEED - n)
    return [msgspec.json.encode({**body, "seed": base + i}) for i in range(n)]


async def forward_json(
    dispatcher: Dispatcher,
    call: UpstreamCall,
    tokens: TokenCounter,
    translate: Callable[[bytes], bytes] | None = None,
) -> tuple[bytes, Usage]:
    """Send every body, check that each answer is a completion, merge them into one,
    and make sure it carries usage."""
    replies = await _post_all(dispatcher, call)
    answers = [_checked(reply, translate) for reply in replies]
    if len(answers) == 1:
        return await _with_usage(*answers[0], call.prompt_text, tokens)
    return await _merge(answers, call.prompt_text, tokens)


def _checked(
    reply: UpstreamReply, translate: Callable[[bytes], bytes] | None
) -> tuple[bytes, CompletionView]:
    content = reply.body
    if translate is not None:
        try:
            content = translate(content)
        except msgspec.DecodeError as exc:
            raise not_the_api("an /infill answer", exc, content, reply.upstream) from None
    return content, completion_view(content, reply.upstream)


async def _post_all(dispatcher: Dispatcher, call: UpstreamCall) -> list[UpstreamReply]:
    if len(call.bodies) == 1:
        return [
            await dispatcher.post_json(
                call.pool, call.path, call.bodies[0], call.headers, call.asker
            )
        ]
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(
                    dispatcher.post_json(call.pool, call.path, body, call.headers, call.asker)
                )
                for body in call.bodies
            ]
    except ExceptionGroup as failed:
        # One failed choice fails the request; report the first cause, not a group.
        raise failed.exceptions[0] from None
    return [t.result() for t in tasks]


async def _with_usage(
    content: bytes, view: CompletionView, prompt_text: str, tokens: TokenCounter
) -> tuple[bytes, Usage]:
    if view.usage is not None:
        return content, view.usage
    usage = await tokens.usage(prompt_text, _texts(view))
    data: dict[str, Any] = msgspec.json.decode(content)
    data["usage"] = msgspec.to_builtins(usage)
    return msgspec.json.encode(data), usage


async def _merge(
    answers: list[tuple[bytes, CompletionView]], prompt_text: str, tokens: TokenCounter
) -> tuple[bytes, Usage]:
    merged: dict[str, Any] = msgspec.json.decode(answers[0][0])
    choices: list[Any] = []
    completion, prompt = 0, None
    for index, (content, view) in enumerate(answers):
        data: dict[str, Any] = msgspec.json.decode(content)
        for choice in data.get("choices") or ():
            choices.append({**choice, "index": index})
        usage = view.usage
        if usage is None:
            usage = await tokens.usage(prompt_text if prompt is None else "", _texts(view))
        prompt = usage.prompt_tokens if prompt is None else prompt
        completion += usage.completion_tokens
    total = Usage(
        prompt_tokens=prompt or 0,
        completion_tokens=completion,
        total_tokens=(prompt or 0) + completion,
    )
    merged["choices"] = choices
    merged["usage"] = msgspec.to_builtins(total)
    return msgspec.json.encode(merged), total


def _texts(view: CompletionView) -> list[str]:
    out = []
    for choice in view.choices:
        text = choice.message.content if choice.message is not None else choice.text
        out.append(text or "")
    return out
