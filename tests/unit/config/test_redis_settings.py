"""[redis]: validation that names the key, the environment, and the legacy lens.redis_url."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from config import ConfigError, RedisSettings, Settings, load_settings, masked


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "atlas.toml"
    path.write_text(text)
    return path


def test_defaults_are_the_embedded_store_in_the_cache_dir() -> None:
    redis = load_settings(env={}).redis
    assert (redis.url, redis.data_dir, redis.binary, redis.prefix) == (None, None, None, "atlas:")
    assert redis.store_dir(env={}) == Path.home() / ".cache" / "atlas" / "redis"


def test_the_data_dir_comes_from_the_file_then_the_environment(tmp_path: Path) -> None:
    assert RedisSettings().store_dir(env={"ATLAS_DATA_DIR": "/d"}) == Path("/d/redis")
    assert RedisSettings(data_dir="~/x").store_dir(env={"ATLAS_DATA_DIR": "/d"}) == (
        Path.home() / "x" / "redis"
    )
    path = write(tmp_path, '[redis]\ndata_dir = "/from-file"\n')
    assert load_settings(path, env={}).redis.data_dir == "/from-file"
    # The environment overrides the file, as for every ATLAS_* variable.
    assert load_settings(path, env={"ATLAS_DATA_DIR": "/env"}).redis.data_dir == "/env"


def test_atlas_redis_url_sets_the_store_url() -> None:
    settings = load_settings(env={"ATLAS_REDIS_URL": "redis://e:6380/2"})
    assert settings.redis.url == "redis://e:6380/2"
    assert settings.lens.redis_url is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('url = "http://r:1"', r"^redis: url: 'http://r:1' must start with redis://"),
        ('url = "unix://"', r"^redis: url: a unix:// URL needs the socket's path"),
        ('url = "redis://h:99999/0"', r"^redis: url: 'redis://h:99999/0': Port out of range"),
        ('url = "redis://:pw@/0"', r"^redis: url: 'redis://:\*\*\*@/0' has no host"),
        ('prefix = ""', r"^redis: prefix: must be non-empty"),
        ('prefix = "a b:"', r"^redis: prefix: must be non-empty, without whitespace"),
        ("lock_timeout_s = 0", r"^redis: lock_timeout_s: must be positive"),
        ("max_restarts = -1", r"^redis: stop_grace_s and max_restarts"),
        ('data_dir = " "', r"^redis: data_dir: must not be empty"),
        ("urls = 1", r"^redis\.urls: unknown key"),
    ],
)
def test_invalid_values_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path, f"[redis]\n{text}\n"), env={})


def test_valid_urls_are_accepted() -> None:
    for url in ("redis://h:6379/0", "rediss://u:p@h/1", "unix:///run/redis.sock"):
        assert RedisSettings(url=url).url == url


def test_legacy_lens_redis_url_is_the_store_url_unless_redis_url_is_set(tmp_path: Path) -> None:
    old = write(tmp_path, '[lens]\nenabled = true\nredis_url = "redis://old:6379/0"\n')
    assert load_settings(old, env={}).redis.url == "redis://old:6379/0"
    # ATLAS_REDIS_URL used to override the file's lens.redis_url; it still does.
    assert load_settings(old, env={"ATLAS_REDIS_URL": "redis://new/0"}).redis.url == (
        "redis://new/0"
    )
    both = {"lens": {"redis_url": "redis://old/0"}, "redis": {"url": "redis://new/0"}}
    assert msgspec.convert(both, Settings, strict=True).redis.url == "redis://new/0"
    # Settings built from data alone (tests, benchmarks) follow the same rule.
    legacy = msgspec.convert({"lens": {"redis_url": "redis://old/0"}}, Settings, strict=True)
    assert legacy.redis.url == "redis://old/0"


def test_the_lens_no_longer_needs_a_url(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "[lens]\nenabled = true\n"), env={})
    assert settings.lens.enabled and settings.redis.url is None  # the embedded store


def test_printed_settings_hide_the_password_of_a_redis_url(tmp_path: Path) -> None:
    path = write(tmp_path, '[lens]\nredis_url = "redis://:s3cret@old/0"\n')
    data = masked(load_settings(path, env={"ATLAS_REDIS_URL": "redis://u:hunter2@h:1/0"}))
    assert data["redis"]["url"] == "redis://u:***@h:1/0"
    assert data["lens"]["redis_url"] == "redis://:***@old/0"
    assert "hunter2" not in repr(data) and "s3cret" not in repr(data)
