"""Every Redis key the router and the pattern cache use, in one place.

All keys start with the store's prefix (`[redis] prefix`). `{model}` is the public model
name, `{bin}` a difficulty bin (0 .. bins - 1), `{scope}` `t:{tenant}` or `shared`
(`[models.strategy.cache] shared_tenants`), `{key}` the sha256 of the normalised
request (strategies/router/patterns.py). Times are Unix seconds (float).

Key                                     Type    Value
{p}router:{model}:{bin}                 hash    {route}:passes, {route}:failures (ints),
                                                {route}:tokens (float): HINCRBY(FLOAT),
                                                so replicas add up without a lock
{p}cache:{model}:{scope}:e:{key}        string  CacheEntry (JSON): a verified answer
{p}cache:{model}:{scope}:meta           hash    {key} -> JSON [strength_s, last_seen]
{p}cache:{model}:{scope}:sk             hash    {key} -> sketch (64 big-endian u32)
{p}cache:{model}:{scope}:vec            hash    {key} -> embedding (float32, unit length),
                                                only for models with embedding upstreams
"""

from __future__ import annotations


def router_key(prefix: str, model: str, bin_: int) -> str:
    return f"{prefix}router:{model}:{bin_}"


def entry_key(prefix: str, model: str, scope: str, key: str) -> str:
    return entry_prefix(prefix, model, scope) + key


def entry_prefix(prefix: str, model: str, scope: str) -> str:
    """What an entry's key is once `{key}` is appended (the store's Lua script does)."""
    return f"{prefix}cache:{model}:{scope}:e:"


def meta_key(prefix: str, model: str, scope: str) -> str:
    return f"{prefix}cache:{model}:{scope}:meta"


def sketch_key(prefix: str, model: str, scope: str) -> str:
    return f"{prefix}cache:{model}:{scope}:sk"


def vector_key(prefix: str, model: str, scope: str) -> str:
    return f"{prefix}cache:{model}:{scope}:vec"
