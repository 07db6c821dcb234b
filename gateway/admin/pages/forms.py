"""Reading what a page is sent: an HTML form (urlencoded, bounded, each field once) and
query parameters, with every mistake a 400 that says what was wrong, never a 500."""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import date
from typing import Any
from urllib.parse import parse_qsl

from litestar import Request

from gateway.admin.bodies import MAX_BODY_BYTES, known_once
from gateway.admin.errors import AdminError, bad_request

FORM_TYPE = "application/x-www-form-urlencoded"
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


async def read_form(request: Request[Any, Any, Any], allowed: Collection[str]) -> dict[str, str]:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != FORM_TYPE:
        raise AdminError(415, f"send the form as {FORM_TYPE}", code="unsupported_media_type")
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise AdminError(413, "the form is too large", code="request_too_large")
    try:
        pairs = parse_qsl(
            raw.decode("utf-8"), keep_blank_values=True, max_num_fields=64, errors="strict"
        )
    except (UnicodeDecodeError, ValueError):
        raise bad_request("the form is not valid UTF-8 form data") from None
    return known_once(pairs, allowed, "form field")


def query(request: Request[Any, Any, Any], allowed: Collection[str]) -> dict[str, str]:
    """The query's parameters, each at most once and all known; empty ones dropped
    (an unfilled filter in a GET form)."""
    found = known_once(request.query_params.multi_items(), allowed, "query parameter")
    return {name: value for name, value in found.items() if value != ""}


def day_of(params: dict[str, str], name: str) -> date | None:
    value = params.get(name)
    if value is None:
        return None
    if _DAY.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:  # 2026-02-30
            pass
    raise bad_request(f"{name} must be a date as YYYY-MM-DD", param=name)


def count_of(form: dict[str, str], name: str, *, minimum: int = 0) -> int | None:
    """An optional whole number field: empty is None (no limit)."""
    value = form.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit() or len(value) > 12 or int(value) < minimum:
        raise bad_request(f"{name} must be a whole number of at least {minimum}", param=name)
    return int(value)


def int_param(params: dict[str, str], name: str, default: int, *, low: int, high: int) -> int:
    value = params.get(name)
    if value is None:
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise bad_request(f"{name} must be a whole number from {low} to {high}", param=name)
    return int(value)


def names_of(form: dict[str, str], name: str) -> list[str] | None:
    """A comma- or space-separated list field: empty is None (every one)."""
    parts = [p for p in re.split(r"[\s,]+", form.get(name, "")) if p]
    return parts or None
