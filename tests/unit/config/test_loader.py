from __future__ import annotations

from pathlib import Path

import pytest

from config import ConfigError, load_settings, masked

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


def test_public_listen_address_needs_a_master_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[server]\nhost = "0.0.0.0"\n')
    with pytest.raises(ConfigError, match=r"server\.master_key"):
        load_settings(path, env={})
    assert load_settings(path, env={"ATLAS_MASTER_KEY": "k"}).server.master_key == "k"


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
