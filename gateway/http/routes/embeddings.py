"""POST /v1/embeddings, served by the model's embedding upstreams (never a generation server)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post

from engines import Asker, Priority
from gateway.http.auth import caller_of
from gateway.http.calls import forward_headers, resolve_model
from gateway.http.errors import APIError
from gateway.http.metering import admit
from gateway.http.requests import decode_request, json_response, until_disconnect
from gateway.http.schemas import EmbeddingRequest
from gateway.http.state import ServicesRef
from gateway.strategies.base import Served
from gateway.strategies.replies import check_embeddings
from gateway.strategies.upstream_call import upstream_bodies
from gateway.strategies.views import Usage
from gateway.telemetry.request_ids import request_id_var

PATH = "/v1/embeddings"
PATHS = [PATH, PATH.removeprefix("/v1")]  # also without /v1: the same route
EMBEDDED = Served(route="embeddings")
NO_TOKENS = Usage()


def embeddings_handler(ref: ServicesRef) -> Any:
    @post(PATHS, status_code=200)
    async def embeddings(request: Request[Any, Any, Any]) -> Response[bytes]:
        services = ref.get()
        raw = await request.body()
        embedding = decode_request(raw, EmbeddingRequest)
        group = resolve_model(request, services, embedding.model)
        if not (group.embedding.upstreams or group.embedding.discovered):
            raise APIError(
                400,
                f"model {group.name!r} has no embedding upstream; add "
                "embedding_upstreams to its [[models]] table",
                param="model",
                code="embeddings_not_configured",
            )
        body = upstream_bodies(raw, n=1, seed=None, changes=group.model_changes(), drop=())[0]
        caller = caller_of(request)
        admission = await admit(services.accounts.limiter, caller)
        try:
            reply = await until_disconnect(
                request,
                services.dispatcher.post_json(
                    group.embedding,
                    PATH,
                    body,
                    group.upstream_headers(
                        request_id_var.get(), forward_headers(request.scope["headers"])
                    ),
                    Asker(caller.usage_id, Priority.PASS_THROUGH),
                ),
            )
            content = check_embeddings(reply)
        finally:
            await admission.release()
        # A request on the ledger; embeddings generate no tokens, so nothing is charged.
        services.feedback.answered(
            group, NO_TOKENS, None, served=EMBEDDED, key_id=caller.usage_id, user_id=caller.user_id
        )
        return json_response(content, admission.headers or None)

    return embeddings
