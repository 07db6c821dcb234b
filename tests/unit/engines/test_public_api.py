"""engines/__init__: every public name resolves to its home module, on first use."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import engines

pytestmark = pytest.mark.timeout(30)


def test_all_names_resolve_to_their_homes() -> None:
    assert sorted(engines.__all__) == sorted(engines._HOMES)
    for name, home in engines._HOMES.items():
        assert getattr(engines, name) is getattr(importlib.import_module(home), name)
    assert set(engines.__all__) <= set(dir(engines))


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = engines.Nope  # type: ignore[attr-defined]


def test_importing_the_package_loads_no_http_client() -> None:
    code = "import sys, engines.errors; print('aiohttp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
