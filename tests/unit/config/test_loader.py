from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from config import (
    STRATEGY_TYPES,
    BestOfKSettings,
    ConfigError,
    LensSettings,
    PassThroughSettings,
    RedisSettings,
    RouterSettings,
    SandboxLimits,
    SandboxSettings,
    ServerSettings,
    UpstreamClientSettings,
    best_of_k_settings,
    load_settings,
    masked,
)
from config.accounts import AccountsSettings

EXAMPLE = Path(__file__).resolve().parents[3] / "config" / "atlas.example.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "atlas.toml"
    path.write_text(text)
    return path


def test_embedded_defaults_need_no_file() -> None:
    settings = load_settings(env={})
    assert settings.server.host == "127.0.0.1"
    assert settings.models == ()


def test_the_documented_example_is_valid() -> None:
    settings = load_settings(EXAMPLE, env={"ATLAS_MASTER_KEY": "sk-test"})
    assert settings.models and settings.models[0].generation_upstreams()


@pytest.mark.parametrize(
    "text, key",
    [
        ("[server]\nprot = 1\n", "server"),
        ("[servr]\nport = 1\n", "servr"),
        ('[[models]]\nname = "a"\nupstreams = ["ftp://x"]\n', "models[0]"),
        ('[[models]]\nname = "a"\nupstreams = [{url = "http://x", weight = 0}]\n', "models[0]"),
        ("[server]\nport = 70000\n", "server"),
        ('[server]\nport = "80"\n', "server.port"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(write(tmp_path, text), env={})
    assert str(error.value).startswith(key), str(error.value)


def test_duplicate_model_names(tmp_path: Path) -> None:
    text = '[[models]]\nname = "a"\nupstreams = ["http://x"]\n' * 2
    with pytest.raises(ConfigError, match="duplicate model name 'a'"):
        load_settings(write(tmp_path, text), env={})


STRONG_KEY = "sk-" + "0123456789abcdef" * 2


def test_public_listen_address_needs_a_master_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[server]\nhost = "0.0.0.0"\n')
    with pytest.raises(ConfigError, match=r"server\.master_key"):
        load_settings(path, env={})
    settings = load_settings(path, env={"ATLAS_MASTER_KEY": STRONG_KEY})
    assert settings.server.master_key == STRONG_KEY


@pytest.mark.parametrize(
    "env, key",
    [
        ({"ATLAS_MASTER_KEY": "k"}, "server.master_key"),
        ({"ATLAS_MASTER_KEY": "x" * 31}, "server.master_key"),
        ({"ATLAS_MASTER_KEY": " " * 40}, "server.master_key"),
        ({"ATLAS_MASTER_KEY": STRONG_KEY + " trailing"}, "server.master_key"),
        ({"ATLAS_MASTER_KEY": STRONG_KEY, "ATLAS_METRICS_TOKEN": "scrape"}, "server.metrics_token"),
    ],
)
def test_a_weak_key_is_refused_beyond_loopback(
    tmp_path: Path, env: dict[str, str], key: str
) -> None:
    public = write(tmp_path, '[server]\nhost = "0.0.0.0"\n')
    with pytest.raises(ConfigError, match=rf"^{re.escape(key)} .*too weak.*32 characters"):
        load_settings(public, env=env)
    loopback = write(tmp_path, '[server]\nhost = "127.0.0.1"\n')
    assert load_settings(loopback, env=env).server.master_key == env["ATLAS_MASTER_KEY"]


def test_server_limits_are_validated(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nheader_timeout_s = 0\n")
    with pytest.raises(ConfigError, match="server: header_timeout_s must be positive"):
        load_settings(path, env={})


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 9000\n")
    settings = load_settings(path, env={"ATLAS_PORT": "9100", "ATLAS_UPSTREAM_URL": "http://h:1/"})
    assert settings.server.port == 9100
    assert settings.models[0].name == "default"
    assert settings.models[0].generation_upstreams()[0].url == "http://h:1"
    with pytest.raises(ConfigError, match="ATLAS_PORT"):
        load_settings(path, env={"ATLAS_PORT": "many"})


def test_cli_flags_win(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 9000\n")
    settings = load_settings(path, env={"ATLAS_PORT": "9100"}, overrides={"server": {"port": 9200}})
    assert settings.server.port == 9200


def test_masked_hides_secrets() -> None:
    settings = load_settings(
        env={"ATLAS_MASTER_KEY": "sk-secret", "ATLAS_UPSTREAM_URL": "http://h:1"}
    )
    data = masked(settings)
    assert data["server"]["master_key"] == "***"
    assert "sk-secret" not in repr(data)


MODEL = '[[models]]\nname = "a"\nupstreams = ["http://x"]\n'


def test_defaults_equal_the_gateways_old_ones() -> None:
    settings = load_settings(env={"ATLAS_UPSTREAM_URL": "http://h:1"})
    sandbox = settings.sandbox
    assert (sandbox.backend, sandbox.max_concurrency) == ("nsjail", 0)
    # What the gateway built from the old flat [sandbox] keys; the rest are Limits' own.
    assert sandbox.limits == SandboxLimits(
        wall_time_s=5.0,
        cpu_time_s=3,
        memory_mb=512,
        per_test_s=1.0,
        output_bytes=64 * 1024,
        tmpfs_mb=16,
        max_pids=32,
        max_open_files=64,
        max_file_mb=8,
    )
    assert sandbox.compile_limits == SandboxLimits(
        wall_time_s=20.0,
        cpu_time_s=15,
        memory_mb=768,
        max_pids=16,
        max_file_mb=64,
        tmpfs_mb=128,
    )
    lens = settings.lens
    assert (lens.enabled, lens.redis_url, lens.record) == (False, None, True)
    assert (lens.checkpoint_dir, lens.dim, lens.train_every) == ("~/.cache/atlas/lens", 896, 200)
    assert [lens.source_weight(s) for s in ("request", "prompt", "generated", "x")] == [
        1.0,
        1.0,
        0.3,
        0.0,
    ]
    assert (lens.hidden, lens.epochs, lens.keep_checkpoints) == ((512, 128), 60, 5)
    # A model that says nothing gets the router (docs/routing.md): code requests with
    # trusted tests are routed by difficulty, up to k=20; a client may force k up to 20.
    strategy = settings.models[0].strategy
    assert strategy == RouterSettings()
    assert (strategy.routes.fast, strategy.routes.standard, strategy.routes.hard) == (1, 5, 20)
    assert best_of_k_settings(strategy) == BestOfKSettings(
        k=5,
        max_k=20,
        seed_base=0,
        temperature_small_k=0.6,
        temperature_large_k=0.8,
        test_requests=0,
    )


def test_the_example_shows_the_embedded_defaults() -> None:
    settings = load_settings(EXAMPLE, env={"ATLAS_MASTER_KEY": "sk-test"})
    assert settings.sandbox == SandboxSettings()
    assert settings.lens == LensSettings()
    assert settings.redis == RedisSettings()
    assert settings.models[0].strategy == BestOfKSettings()


@pytest.mark.parametrize(
    "table, expected",
    [
        ('type = "pass_through"\nmax_k = 1\n', PassThroughSettings(max_k=1)),
        ('type = "best_of_k"\n', BestOfKSettings(k=5)),
        ('type = "best_of_k"\nk = 3\ntest_requests = 4\n', BestOfKSettings(k=3, test_requests=4)),
    ],
)
def test_the_strategy_is_tagged(tmp_path: Path, table: str, expected: object) -> None:
    settings = load_settings(write(tmp_path, MODEL + "[models.strategy]\n" + table), env={})
    assert settings.models[0].strategy == expected
    assert masked(settings)["models"][0]["strategy"]["type"] in STRATEGY_TYPES


@pytest.mark.parametrize(
    "table, message",
    [
        ('type = "best_of_n"\n', "models[0].strategy.type: unknown strategy type 'best_of_n'"),
        ("k = 3\n", "models[0].strategy.type: missing"),
        ("type = 3\n", "models[0].strategy.type: "),
    ],
)
def test_a_bad_strategy_type_names_the_key_and_the_valid_types(
    tmp_path: Path, table: str, message: str
) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(write(tmp_path, MODEL + "[models.strategy]\n" + table), env={})
    assert str(error.value).startswith(message), str(error.value)
    assert "best_of_k, pass_through" in str(error.value)


@pytest.mark.parametrize(
    "table, key",
    [
        ('type = "pass_through"\nk = 3\n', "models[0].strategy.k"),
        ('type = "best_of_k"\nk = 30\n', "models[0].strategy"),
        ('type = "pass_through"\nmax_k = 0\n', "models[0].strategy"),
    ],
)
def test_strategy_errors_name_the_key(tmp_path: Path, table: str, key: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(write(tmp_path, MODEL + "[models.strategy]\n" + table), env={})
    assert str(error.value).startswith(key), str(error.value)


def test_the_legacy_best_of_k_table_becomes_a_strategy(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    text = MODEL + "[models.best_of_k]\nmax_k = 128\ntest_requests = 4\n"
    text += MODEL.replace('"a"', '"b"') + "[models.best_of_k]\nk = 4\n"
    with caplog.at_level(logging.WARNING, logger="config.legacy"):
        settings = load_settings(write(tmp_path, text), env={})
    # Its k defaulted to 1: pass-through unless a client forces k, as before.
    assert settings.models[0].strategy == BestOfKSettings(k=1, max_k=128, test_requests=4)
    assert settings.models[1].strategy == BestOfKSettings(k=4)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and all("[models.strategy]" in w for w in warnings), warnings


def test_the_legacy_best_of_k_table_with_a_strategy_is_an_error(tmp_path: Path) -> None:
    text = MODEL + '[models.best_of_k]\nk = 2\n[models.strategy]\ntype = "best_of_k"\n'
    with pytest.raises(ConfigError, match=r"^models\[0\]\.strategy: .*best_of_k"):
        load_settings(write(tmp_path, text), env={})
    bad = MODEL + '[models.best_of_k]\ntype = "best_of_k"\n'
    with pytest.raises(ConfigError, match=r"^models\[0\]\.best_of_k\.type"):
        load_settings(write(tmp_path, bad), env={})


def test_the_flat_sandbox_limits_move_to_sandbox_limits(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    text = "[sandbox]\nwall_time_s = 7.0\ncpu_time_s = 4\nmemory_mb = 300\nper_test_s = 0.5\n"
    text += "[sandbox.limits]\nmax_pids = 8\n"
    with caplog.at_level(logging.WARNING, logger="config.legacy"):
        limits = load_settings(write(tmp_path, text), env={}).sandbox.limits
    assert limits == SandboxLimits(
        wall_time_s=7.0, cpu_time_s=4, memory_mb=300, per_test_s=0.5, max_pids=8
    )
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 4 and all("[sandbox.limits]" in w for w in warnings), warnings


def test_a_flat_sandbox_limit_given_twice_is_an_error(tmp_path: Path) -> None:
    text = "[sandbox]\nmemory_mb = 300\n[sandbox.limits]\nmemory_mb = 400\n"
    with pytest.raises(ConfigError, match=r"^sandbox\.limits\.memory_mb: "):
        load_settings(write(tmp_path, text), env={})


def test_sandbox_and_lens_errors_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^sandbox\.limits: sandbox limits"):
        load_settings(write(tmp_path, "[sandbox.limits]\nwall_time_s = 0\n"), env={})
    with pytest.raises(ConfigError, match=r"^sandbox\.limits\.wall_time: unknown key"):
        load_settings(write(tmp_path, "[sandbox.limits]\nwall_time = 1\n"), env={})
    with pytest.raises(ConfigError, match=r"^redis: url: 'http://r' must start with redis://"):
        load_settings(write(tmp_path, '[redis]\nurl = "http://r"\n'), env={})
    with pytest.raises(ConfigError, match=r"^lens: generated_weight"):
        load_settings(write(tmp_path, "[lens]\ngenerated_weight = 2\n"), env={})
    with pytest.raises(ConfigError, match=r"^lens: lease_ttl_s must be between"):
        load_settings(write(tmp_path, "[lens]\nlease_ttl_s = 0\n"), env={})
    with pytest.raises(ConfigError, match=r"^lens: poll_interval_s must be between"):
        load_settings(write(tmp_path, "[lens]\npoll_interval_s = -1\n"), env={})
    lens = load_settings(write(tmp_path, "[lens]\nlease_ttl_s = 10\n"), env={}).lens
    assert (lens.lease_ttl_s, lens.poll_interval_s) == (10.0, 5.0)


def test_the_lens_keys_of_old_files_keep_working(tmp_path: Path) -> None:
    text = (
        '[lens]\nenabled = true\nredis_url = "redis://r:6379/0"\ncheckpoint_dir = "/x"\n'
        "dim = 64\ntrain_every = 10\nrecord = false\ngenerated_weight = 0.0\n"
    )
    lens = load_settings(write(tmp_path, text), env={}).lens
    assert (lens.enabled, lens.redis_url, lens.checkpoint_dir) == (True, "redis://r:6379/0", "/x")
    assert (lens.dim, lens.train_every, lens.record) == (64, 10, False)
    assert lens.source_weight("generated") == 0.0 and lens.source_weight("request") == 1.0
    # Its store: the shared one, at the URL it names.
    assert load_settings(write(tmp_path, text), env={}).redis.url == "redis://r:6379/0"


def test_legacy_keys_leave_the_callers_data_alone() -> None:
    models = [{"name": "m", "upstreams": ["http://x"], "best_of_k": {"k": 2}}]
    settings = load_settings(env={}, fallback_models={"models": models})
    assert settings.models[0].strategy == BestOfKSettings(k=2)
    assert models == [{"name": "m", "upstreams": ["http://x"], "best_of_k": {"k": 2}}]


def test_upstream_deadlines_are_documented_and_checked(tmp_path: Path) -> None:
    example = load_settings(EXAMPLE, env={"ATLAS_MASTER_KEY": "sk-test"})
    assert example.upstream == UpstreamClientSettings()
    assert example.accounts == AccountsSettings()  # the example shows the defaults
    assert example.server.write_timeout_s == ServerSettings().write_timeout_s == 30.0
    text = "[upstream]\nstream_first_byte_timeout_s = 10\nstream_headers_timeout_s = 5\n"
    with pytest.raises(ConfigError, match=r"^upstream: stream_headers_timeout_s must be at least"):
        load_settings(write(tmp_path, text), env={})
    with pytest.raises(ConfigError, match=r"^server: .*write_timeout_s must be positive"):
        load_settings(write(tmp_path, "[server]\nwrite_timeout_s = 0\n"), env={})
