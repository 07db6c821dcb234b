"""The bounded example store: one Redis stream, trimmed to the newest N entries.

Each stream entry holds one msgpack-encoded Example in field `r`; stream ids
give the order, so a trainer asks for everything after the last id it used.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import msgspec
import redis.asyncio as aioredis

from lens.records import Example

logger = logging.getLogger(__name__)

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Example)
READ_PAGE = 1000


class StoredExample(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    example: Example


class ExampleStore:
    def __init__(
        self, client: aioredis.Redis, *, prefix: str = "lens:", max_examples: int = 20_000
    ) -> None:
        self._redis = client
        self.key = prefix + "examples"
        self.max_examples = max_examples

    async def add(self, examples: Sequence[Example]) -> list[str]:
        """Append the examples, dropping the oldest beyond the bound; returns their ids."""
        if not examples:
            return []
        async with self._redis.pipeline(transaction=True) as pipe:
            for ex in examples:
                pipe.xadd(
                    self.key,
                    {"r": _encoder.encode(ex)},
                    maxlen=self.max_examples,
                    approximate=False,
                )
            ids = await pipe.execute()
        return [i.decode() if isinstance(i, bytes) else str(i) for i in ids]

    async def count(self) -> int:
        return int(await self._redis.xlen(self.key))

    async def read(
        self,
        after: str | None = None,
        *,
        tenant: str | None = None,
    ) -> list[StoredExample]:
        """Examples with an id after `after` (all when None), oldest first."""
        out: list[StoredExample] = []
        start = "-" if after is None else f"({after}"
        while True:
            page = await self._redis.xrange(self.key, min=start, max="+", count=READ_PAGE)
            for raw_id, fields in page:
                entry_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
                ex = _decode(entry_id, fields)
                if ex is not None and (tenant is None or ex.tenant == tenant):
                    out.append(StoredExample(id=entry_id, example=ex))
            if len(page) < READ_PAGE:
                return out
            start = f"({entry_id}"

    async def last_id(self) -> str | None:
        info = await self._redis.xrevrange(self.key, count=1)
        if not info:
            return None
        raw = info[0][0]
        return raw.decode() if isinstance(raw, bytes) else str(raw)


def _decode(entry_id: str, fields: dict[bytes, bytes]) -> Example | None:
    try:
        return _decoder.decode(fields[b"r"])
    except (KeyError, msgspec.DecodeError) as exc:
        # One bad entry must not stop training; it is skipped and named.
        logger.warning("lens: skipping unreadable example %s: %s", entry_id, exc)
        return None
