"""`[accounts]` settings: secrets at least 32 bytes, argon2 never below OWASP's minimum."""

from __future__ import annotations

import msgspec
import pytest

from config.accounts import AccountsSettings, PasswordHashSettings, ThrottleSettings


def test_defaults_are_valid_and_generate_secrets() -> None:
    settings = AccountsSettings()
    assert settings.api_key_secret is None and settings.session_secret is None
    assert settings.passwords.memory_kib == 19456 and settings.passwords.time_cost == 2
    assert settings.throttle == ThrottleSettings(account_failures=5, address_failures=20)


def test_from_toml_shaped_data() -> None:
    data = {
        "api_key_secret": "a" * 32,
        "session_secret": "b" * 40,
        "require_configured_secrets": True,
        "passwords": {"memory_kib": 65536, "time_cost": 3},
        "throttle": {"account_failures": 10},
    }
    settings = msgspec.convert(data, AccountsSettings)
    assert settings.passwords == PasswordHashSettings(memory_kib=65536, time_cost=3)
    assert settings.throttle.account_failures == 10


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"api_key_secret": "short"}, "api_key_secret must be at least 32 bytes"),
        ({"session_secret": "é" * 15}, "session_secret must be at least 32 bytes"),
        ({"require_configured_secrets": True}, "api_key_secret is required"),
        ({"passwords": {"memory_kib": 4096}}, "memory_kib must be at least 19456"),
        ({"passwords": {"time_cost": 1}}, "time_cost must be at least 2"),
        ({"throttle": {"window_s": 0}}, "at least 1"),
        ({"min_password_chars": 4}, "min_password_chars"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_bad_settings_name_the_key(data: dict[str, object], message: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=message):
        msgspec.convert(data, AccountsSettings)
