"""The pass-through strategy (k=1): forward to one upstream, or n of them when n > 1,
and relay the answer unchanged but for the usage it must carry."""

from __future__ import annotations

from typing import Any

from engines import Asker, Dispatcher, Priority
from gateway.strategies.base import Answer, Call, EventStream
from gateway.strategies.infill import INFILL_PATH, InfillTranslator, infill_body
from gateway.strategies.relay import open_relay
from gateway.strategies.tokens import TokenCounter
from gateway.strategies.upstream_call import UpstreamCall, forward_json, upstream_bodies

CHAT_PATH = "/v1/chat/completions"
COMPLETIONS_PATH = "/v1/completions"
ROUTE_HEADERS = {"x-atlas-route": "fast", "x-atlas-k": "1"}
# The `object` of a usage chunk the relay adds at the end of a stream.
CHUNK_OBJECTS = {"chat": "chat.completion.chunk", "completions": "text_completion"}


class PassThrough:
    def __init__(self, dispatcher: Dispatcher, tokens: TokenCounter, *, keepalive_s: float):
        self._dispatcher = dispatcher
        self._tokens = tokens
        self._keepalive_s = keepalive_s

    async def run(self, call: Call) -> Answer:
        translator = _translator(call)
        content, usage = await forward_json(
            self._dispatcher,
            upstream_call(call),
            self._tokens,
            translator.completion if translator else None,
        )
        return Answer(content, usage, ROUTE_HEADERS)

    async def stream(self, call: Call) -> EventStream:
        translator = _translator(call)
        events = await open_relay(
            self._dispatcher,
            upstream_call(call),
            self._tokens,
            keepalive_s=self._keepalive_s,
            include_usage=call.include_usage,
            usage_template={"object": CHUNK_OBJECTS[call.endpoint], "model": call.requested_model},
            translate=translator.chunk if translator else None,
        )
        return EventStream(ROUTE_HEADERS, events)


def upstream_changes(call: Call) -> dict[str, Any]:
    """What the upstream must see differently from the client's body."""
    changes = call.model.model_changes()
    if call.stream and not call.infill:
        # Always ask for usage so the gateway can count tokens; the usage chunk
        # reaches the client only if it asked for it.
        changes["stream_options"] = {"include_usage": True}
    return changes


def upstream_call(call: Call) -> UpstreamCall:
    drop = ("atlas",) if call.has_extension else ()
    bodies = upstream_bodies(
        call.body, n=call.n, seed=call.seed, changes=upstream_changes(call), drop=drop
    )
    path = CHAT_PATH if call.endpoint == "chat" else COMPLETIONS_PATH
    if call.infill:
        bodies = [infill_body(body) for body in bodies]
        path = INFILL_PATH
    return UpstreamCall(
        pool=call.model.generation,
        path=path,
        bodies=bodies,
        headers=call.model.upstream_headers(call.request_id, call.forward_headers),
        prompt_text=call.prompt_text,
        asker=Asker(call.key_id, Priority.PASS_THROUGH),
    )


def _translator(call: Call) -> InfillTranslator | None:
    return InfillTranslator(call.requested_model, call.request_id) if call.infill else None
