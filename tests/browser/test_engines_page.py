"""The engines page over real supervised engines (the fake llama-server): states, speed,
speculative acceptance and the zero-acceptance alarm, log lines; screenshots in light
and dark."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from config import Settings
from tests.browser.conftest import Ui, screenshot
from tests.fakes.fake_llama_server import write_wrapper
from tests.fakes.upstream import ScriptedUpstream
from tests.integration.admin_support import BEARER, MASTER_KEY, SESSION_SECRET
from tests.integration.conftest import RunningGateway, make_settings

pytestmark = [pytest.mark.redis, pytest.mark.slow, pytest.mark.timeout(120)]

WINDOW = 50  # engines.telemetry.WINDOW: the alarm needs a full window


def test_engines_page_shows_speed_acceptance_and_the_alarm(
    gateway_factory: Callable[[Settings], RunningGateway],
    upstream: ScriptedUpstream,
    browser: Browser,
    tmp_path: Path,
) -> None:
    binary = write_wrapper(tmp_path, ACCEPT=0)
    engine = {"binary": binary, "start_timeout_s": 15.0, "stop_grace_s": 2.0}
    settings = make_settings(
        [{"name": "coder", "engines": ["gen-draft", "gen-plain"]}],
        server={"master_key": MASTER_KEY},
        accounts={"session_secret": SESSION_SECRET},
        sandbox={"backend": "disabled"},
        engines=[
            {"name": "gen-draft", "model": "m.gguf", "draft_model": "d.gguf", **engine},
            {"name": "gen-plain", "model": "m.gguf", **engine},
        ],
    )
    ui = Ui(gateway_factory(settings), upstream, browser)
    body = {"model": "coder", "messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client(base_url=ui.url, headers=BEARER, timeout=10) as client:
        for _ in range(WINDOW + 10):  # a full window of replies
            assert client.post("/v1/chat/completions", json=body).status_code == 200
    ui.user("root", "admin")
    for dark in (False, True):
        page = ui.sign_in("root", dark=dark)
        page.goto("/admin/engines")
        draft = page.locator("article.engine", has_text="gen-draft")
        expect(draft.get_by_role("alert")).to_contain_text("Zero acceptance")
        expect(draft).to_contain_text("0.0 % since start")
        plain = page.locator("article.engine", has_text="gen-plain")
        expect(plain).to_contain_text("no speculative decoding")
        expect(plain.get_by_role("alert")).to_have_count(0)
        # Speed comes from the replies' timings; the least-loaded pick sent every one of
        # these one-at-a-time requests to the first engine, so the other has none.
        expect(draft).to_contain_text("100.0")
        expect(plain).to_contain_text("not reported")
        page.locator("details summary").first.click()
        screenshot(page, "engines-managed-dark" if dark else "engines-managed")
