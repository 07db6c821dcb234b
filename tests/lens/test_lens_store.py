"""ExampleStore and EmbeddingCache against a real redis-server."""

import uuid
from collections.abc import AsyncIterator, Sequence

import pytest
import redis.asyncio as aioredis

from lens.cache import CachedEmbedder, EmbeddingCache
from lens.records import Example, make_example
from lens.store import ExampleStore
from tests.conftest import free_port

pytestmark = pytest.mark.redis


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    conn = aioredis.Redis.from_url(redis_url)
    yield conn
    await conn.aclose()


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}:"


def _ex(i: int, tenant: str = "t") -> Example:
    return make_example(
        [float(i), 0.5], passed=i % 2 == 0, test_source="request", problem_id=f"p{i}", tenant=tenant
    )


async def test_store_round_trip_in_order(client: aioredis.Redis, prefix: str) -> None:
    store = ExampleStore(client, prefix=prefix)
    examples = [_ex(i) for i in range(5)]
    ids = await store.add(examples)
    got = await store.read()
    assert [s.id for s in got] == ids
    assert [s.example for s in got] == examples
    assert got[0].example.vector() == [0.0, 0.5]


async def test_store_is_bounded(client: aioredis.Redis, prefix: str) -> None:
    store = ExampleStore(client, prefix=prefix, max_examples=10)
    for start in range(0, 25, 5):
        await store.add([_ex(i) for i in range(start, start + 5)])
    assert await store.count() == 10
    assert (await store.read())[0].example.problem_id == "p15"  # oldest dropped


async def test_read_after_id_and_by_tenant(client: aioredis.Redis, prefix: str) -> None:
    store = ExampleStore(client, prefix=prefix)
    ids = await store.add([_ex(0, "a"), _ex(1, "b"), _ex(2, "a")])
    assert [s.id for s in await store.read(after=ids[0])] == ids[1:]
    assert [s.example.problem_id for s in await store.read(tenant="a")] == ["p0", "p2"]
    assert await store.last_id() == ids[-1]


async def test_read_pages_through_many(client: aioredis.Redis, prefix: str) -> None:
    store = ExampleStore(client, prefix=prefix)
    await store.add([_ex(i) for i in range(2500)])
    assert len(await store.read()) == 2500


async def test_unreadable_entry_is_skipped(client: aioredis.Redis, prefix: str) -> None:
    store = ExampleStore(client, prefix=prefix)
    await store.add([_ex(0)])
    await client.xadd(store.key, {"r": b"not msgpack \xc1"})
    await store.add([_ex(1)])
    assert [s.example.problem_id for s in await store.read()] == ["p0", "p1"]


class CountingEmbedder:
    """Stands in for the gateway's embedding engine (not ours to test here)."""

    def __init__(self, model_id: str = "m") -> None:
        self._model_id = model_id
        self.calls: list[list[str]] = []

    @property
    def model_id(self) -> str:
        return self._model_id

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        return [[float(len(t)), 1.0] for t in texts]


async def test_cache_serves_hits_and_batches_misses(client: aioredis.Redis, prefix: str) -> None:
    inner = CountingEmbedder()
    embedder = CachedEmbedder(inner, EmbeddingCache(client, prefix=prefix), batch_size=2)
    first = await embedder.embed(["a", "bb", "a", "ccc"])
    assert first == [[1.0, 1.0], [2.0, 1.0], [1.0, 1.0], [3.0, 1.0]]
    assert inner.calls == [["a", "bb"], ["ccc"]]  # deduplicated, batches of 2
    again = await embedder.embed(["ccc", "dddd"])
    assert again == [[3.0, 1.0], [4.0, 1.0]]
    assert inner.calls[-1] == ["dddd"]


async def test_cache_keys_by_model_and_sets_ttl(client: aioredis.Redis, prefix: str) -> None:
    cache = EmbeddingCache(client, prefix=prefix, ttl_s=100)
    await cache.put_many("m1", ["x"], [[1.0, 2.0]])
    assert await cache.get_many("m1", ["x", "y"]) == [[1.0, 2.0], None]
    assert await cache.get_many("m2", ["x"]) == [None]
    keys = [k async for k in client.scan_iter(match=f"{prefix}emb:*")]
    assert len(keys) == 1
    assert 0 < await client.ttl(keys[0]) <= 100


async def test_cache_hashes_large_batches_off_loop(client: aioredis.Redis, prefix: str) -> None:
    cache = EmbeddingCache(client, prefix=prefix)
    texts = [str(i) * 40_000 for i in range(10)]  # 400k chars: hashed in a thread
    await cache.put_many("m", texts, [[float(i)] for i in range(10)])
    assert await cache.get_many("m", texts) == [[float(i)] for i in range(10)]


async def test_a_cache_that_is_down_embeds_everything() -> None:
    down = aioredis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=1)
    inner = CountingEmbedder()
    embedder = CachedEmbedder(inner, EmbeddingCache(down, prefix="t:"))
    try:
        assert await embedder.embed(["a", "bb"]) == [[1.0, 1.0], [2.0, 1.0]]
    finally:
        await down.aclose()
    assert inner.calls == [["a", "bb"]]  # every text a miss, nothing lost to the cache
