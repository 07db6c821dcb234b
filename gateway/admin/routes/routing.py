"""The router's bandit: each routed model's Beta posteriors per difficulty bin (admin)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get

from gateway.admin.auth import caller_of, services_of
from gateway.admin.errors import forbidden
from gateway.admin.schemas import RoutePosteriorOut, RouterBinOut, RouterModelOut, RouterOut
from gateway.wiring.route_stats import ARMS, Posterior


@get("/routing", summary="The router's posteriors per model and difficulty bin (admin)")
async def routing(request: Request[Any, Any, Any]) -> RouterOut:
    if not caller_of(request).principal.is_admin:
        raise forbidden("only an admin reads the router's statistics")
    services = services_of(request)
    snapshot = await services.route_stats.snapshot(services.routed_models())
    return RouterOut(
        models=[
            RouterModelOut(
                model=model,
                bins=[
                    RouterBinOut(bin=b, routes=[_route(r, posts.get(r, Posterior())) for r in ARMS])
                    for b, posts in enumerate(bins)
                ],
            )
            for model, bins in snapshot.items()
        ]
    )


def _route(route: str, post: Posterior) -> RoutePosteriorOut:
    return RoutePosteriorOut(
        route=route,
        alpha=post.alpha,
        beta=post.beta,
        observations=post.count,
        mean_tokens=post.tokens / post.count if post.count else 0.0,
    )


HANDLERS = [routing]
