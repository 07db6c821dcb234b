"""Candidates and test-writing requests sent to the model's generation upstreams.

An answer that is not a chat completion (HTML, truncated JSON, the wrong shape) is an
`UpstreamProtocolError`, like any other failed request: best-of-k records it against
its candidate (or skips the test request) and answers with the others."""

from __future__ import annotations

from typing import Any

import msgspec

from engines import Asker, Dispatcher, Priority
from gateway.strategies.best_of_k.ports import Purpose
from gateway.strategies.model import ModelGroup
from gateway.strategies.replies import chat_completion

PATH = "/v1/chat/completions"
# A search's requests wait in the pool's fair queue behind the same key's pass-through.
PRIORITIES: dict[Purpose, Priority] = {
    "candidate": Priority.CANDIDATE,
    "tests": Priority.TESTS,
    "repair": Priority.REPAIR,
}


class UpstreamGenerator:
    """best-of-k's Generator over one model group, for one client request."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        group: ModelGroup,
        request_id: str,
        forward: tuple[tuple[str, str], ...] = (),
        key: str = "anonymous",
    ) -> None:
        self._dispatcher = dispatcher
        self._askers = {purpose: Asker(key, p) for purpose, p in PRIORITIES.items()}
        self._group = group
        self._headers = group.upstream_headers(request_id, forward)
        self._model_changes = group.model_changes()

    async def complete(self, body: dict[str, Any], purpose: Purpose) -> dict[str, Any]:
        if self._model_changes:
            body = {**body, **self._model_changes}
        reply = await self._dispatcher.post_json(
            self._group.generation,
            PATH,
            msgspec.json.encode(body),
            {**self._headers, "x-atlas-purpose": purpose},
            self._askers[purpose],
        )
        return chat_completion(reply)
