"""What `atlas users list` and `atlas keys list` print, from records built here."""

from __future__ import annotations

import msgspec

from gateway.accounts.keys import ListedKey
from gateway.accounts.schema import ApiKey, KeyLimits
from gateway.commands.tables import key_state, keys_table, limits_text, models_text, table

NOW = 1_800_000_000.0


BASE = ApiKey(
    id="0123456789ab", digest="d" * 64, owner="u1", name="ci", last_four="WXYZ", created_at=NOW
)


def key(**fields: object) -> ApiKey:
    return msgspec.structs.replace(BASE, **fields)


def test_an_empty_table_is_its_header() -> None:
    assert table(["ID", "NAME"], []) == "ID  NAME\n"


def test_columns_line_up_and_lines_end_without_spaces() -> None:
    text = table(["A", "B"], [["long value", "x"], ["y", ""]])
    assert text.splitlines() == ["A           B", "long value  x", "y"]


def test_a_key_shows_its_state_limits_and_models() -> None:
    assert key_state(key(), NOW) == "active"
    assert key_state(key(expires_at=NOW), NOW) == "expired"
    assert key_state(key(suspended=True, expires_at=NOW), NOW) == "suspended"
    assert key_state(key(revoked=True, suspended=True), NOW) == "revoked"
    assert limits_text(KeyLimits()) == "-"
    assert limits_text(KeyLimits(tpm=5, rpm=1)) == "rpm=1 tpm=5"
    assert (models_text(None), models_text(()), models_text(("a", "b"))) == ("all", "none", "a,b")


def test_the_keys_table_names_the_owner_and_never_the_digest() -> None:
    text = keys_table([ListedKey(record=key(), last_used_at=None)], {"u1": "bob"}, NOW)
    header, row = text.splitlines()
    assert header.split()[:4] == ["ID", "OWNER", "NAME", "KEY"]
    assert row.startswith("0123456789ab  bob    ci    ...WXYZ")
    assert "d" * 16 not in text
