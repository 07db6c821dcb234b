"""The admin UI in a real browser: sign in, make a key and use it through the openai
SDK, find the request on the usage and traces pages, revoke the key and see the next
call refused; a member cannot open another user's key; the CSP blocks inline script.
Every page is saved as a screenshot (tests/artifacts/screens/)."""

from __future__ import annotations

import re
import time

import openai
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Ui, screenshot
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.redis, pytest.mark.slow, pytest.mark.timeout(120)]

MESSAGES = [{"role": "user", "content": "Write hello world in Python."}]


def _sdk(ui: Ui, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=ui.url + "/v1", api_key=key, max_retries=0, timeout=10)


def _charts_drawn(page: Page) -> int:
    # Chart.js ran (from /admin/static, under the CSP) and drew every canvas.
    count: int = page.evaluate(
        "() => Array.from(document.querySelectorAll('canvas[data-chart]'))"
        ".filter(c => Chart.getChart(c) !== undefined && c.width > 0).length"
    )
    return count


def test_a_key_from_creation_to_revocation(ui: Ui) -> None:
    first_run = ui.context().new_page()
    first_run.goto("/admin/login")
    expect(first_run.get_by_role("heading", name="Welcome to ATLAS")).to_be_visible()
    screenshot(first_run, "first-run")
    ui.user("root", "admin")
    login = ui.context().new_page()
    login.goto("/admin/login")
    screenshot(login, "login")

    page = ui.sign_in("root")
    screenshot(page, "keys-empty")
    page.get_by_label("Name", exact=True).fill("laptop")
    page.get_by_label("k ceiling").fill("4")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_role("heading", name="Key “laptop” created")).to_be_visible()
    key = page.locator("#new-key").inner_text().strip()
    assert re.fullmatch(r"sk-llm-[0-9a-f]{12}-[0-9A-Za-z]{43}", key)
    page.get_by_role("tab", name="Codex CLI").click()
    codex = page.locator("#snippet-codex").inner_text()
    assert 'wire_api = "responses"' in codex and f'base_url = "{ui.url}/v1"' in codex
    assert 'model = "coder"' in codex
    screenshot(page, "key-created")
    page.get_by_role("tab", name="openai SDK (Python)").click()
    assert key in page.locator("#snippet-openai").inner_text()

    answer = _sdk(ui, key).chat.completions.create(model="coder", messages=MESSAGES)
    assert answer.choices[0].message.content == "Hello from the scripted upstream."

    def usage_shows_it() -> bool:
        page.goto("/admin/usage")
        return page.locator("#total-requests").inner_text() == "1"

    assert wait_for(usage_shows_it, timeout=10)
    assert _charts_drawn(page) == 4
    expect(page.locator("#usage-by-day")).to_contain_text("coder")
    screenshot(page, "usage")

    page.goto("/admin/traces")
    rows = page.locator("#traces tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("coder")
    screenshot(page, "traces")
    rows.first.get_by_role("link").click()
    expect(page.get_by_role("heading", name=re.compile("Request"))).to_be_visible()
    expect(page.get_by_text("Not captured.")).to_be_visible()
    screenshot(page, "trace")

    page.goto("/admin/keys")
    screenshot(page, "keys")
    page.get_by_role("link", name="laptop").click()
    screenshot(page, "key")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke key").click()
    expect(page.get_by_role("heading", name=re.compile("laptop"))).to_contain_text("revoked")
    with pytest.raises(openai.AuthenticationError) as refused:
        _sdk(ui, key).chat.completions.create(model="coder", messages=MESSAGES)
    assert refused.value.status_code == 401


def test_admin_pages_in_light_and_dark(ui: Ui) -> None:
    ui.user("root", "admin")
    ui.user("alice")
    for dark in (False, True):
        page = ui.sign_in("root", dark=dark)
        theme = "dark" if dark else "light"
        for path, name in [
            ("/admin/users", "users"),
            ("/admin/engines", "engines"),
            ("/admin/verification", "verification"),
            ("/admin/usage", "usage-empty"),
        ]:
            page.goto(path)
            expect(page.locator("main h1")).to_be_visible()
            screenshot(page, f"{name}-{theme}" if dark or name == "usage-empty" else name)
        page.goto("/admin/traces/12345")
        expect(page.get_by_role("heading", name="Not found")).to_be_visible()
        if not dark:
            screenshot(page, "error-404")


def test_users_are_managed_from_the_users_page(ui: Ui) -> None:
    ui.user("root", "admin")
    page = ui.sign_in("root")
    page.goto("/admin/users")
    create = page.locator("form[action='/admin/users']")
    create.get_by_label("Name").fill("carol")
    create.get_by_label("Password").fill("another long passphrase")
    create.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("status")).to_contain_text("carol: created")
    row = page.locator("tr", has=page.get_by_role("rowheader", name="carol"))
    row.get_by_label("Role of carol").select_option("admin")
    row.get_by_role("button", name="Set role").click()
    expect(page.get_by_role("status")).to_contain_text("carol: role changed")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("tr", has=page.get_by_role("rowheader", name="carol")).get_by_role(
        "button", name="Disable"
    ).click()
    expect(page.locator("tr", has=page.get_by_role("rowheader", name="carol"))).to_contain_text(
        "disabled"
    )
    screenshot(page, "users-after-changes")


def test_a_member_cannot_open_another_users_key(ui: Ui) -> None:
    ui.user("root", "admin")  # without any admin, sign-in shows the first-run page
    ui.user("alice")
    ui.user("bob")
    alice = ui.sign_in("alice")
    alice.get_by_label("Name", exact=True).fill("alices-key")
    alice.get_by_role("button", name="Create key").click()
    key_page = alice.get_by_role("link", name="Key details")
    href = key_page.get_attribute("href")
    assert href is not None and href.startswith("/admin/keys/")
    bob = ui.sign_in("bob")
    reply = bob.goto(href)
    assert reply is not None and reply.status == 404
    expect(bob.get_by_role("heading", name="Not found")).to_be_visible()
    screenshot(bob, "member-404")
    bob.goto("/admin/keys")
    expect(bob.get_by_text("alices-key")).to_have_count(0)
    screenshot(bob, "member-keys")
    assert bob.goto("/admin/users").status == 404  # type: ignore[union-attr]


def test_the_csp_blocks_an_injected_inline_script(ui: Ui) -> None:
    ui.user("root", "admin")
    page = ui.sign_in("root")
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text))
    # Stored: a key named like a script is shown as text, never run.
    page.get_by_label("Name", exact=True).fill("<script>window.pwned = 1</script>")
    page.get_by_role("button", name="Create key").click()
    page.goto("/admin/keys")
    expect(page.get_by_text("<script>window.pwned = 1</script>")).to_be_visible()
    # Injected into the DOM: the policy refuses to run it.
    page.evaluate(
        """() => {
            window.blocked = [];
            document.addEventListener(
                'securitypolicyviolation', e => window.blocked.push(e.violatedDirective));
            const s = document.createElement('script');
            s.textContent = 'window.pwned = 2';
            document.body.appendChild(s);
        }"""
    )
    deadline = time.monotonic() + 5
    while not page.evaluate("() => window.blocked.length") and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert page.evaluate("() => window.pwned") is None
    assert "script-src" in " ".join(page.evaluate("() => window.blocked"))
    assert any("Content Security Policy" in text for text in violations)


def test_keyboard_only_sign_in_key_and_client_tabs(ui: Ui) -> None:
    ui.user("root", "admin")
    page = ui.context().new_page()
    page.goto("/admin/login")
    expect(page.get_by_label("Name")).to_be_focused()  # autofocus
    page.keyboard.type("root")
    page.keyboard.press("Tab")
    page.keyboard.type("correct horse battery")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/admin/keys$"))
    page.keyboard.press("Tab")  # the skip link comes first
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")  # then into the content, past the navigation
    focused = page.evaluate("() => document.activeElement.closest('main') !== null")
    assert focused
    page.get_by_label("Name", exact=True).focus()
    page.keyboard.type("keyboard")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Key “keyboard” created")).to_be_visible()
    first = page.get_by_role("tab", name="openai SDK (Python)")
    first.focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="Continue")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_role("tab", name="Continue")).to_be_focused()
    expect(page.locator("#panel-continue")).to_be_visible()
    expect(page.locator("#panel-openai")).to_be_hidden()
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")  # wraps round to the last
    expect(page.get_by_role("tab", name="Codex CLI")).to_have_attribute("aria-selected", "true")
    dark = ui.sign_in("root", dark=True)
    dark.goto("/admin/traces")
    screenshot(dark, "traces-dark")


def test_a_missing_chromium_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.browser import conftest

    monkeypatch.setattr(conftest, "CHROMIUM", conftest.Path("/nonexistent/chromium"))
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y chromium"):
        conftest.require_chromium()
    monkeypatch.delenv("CI")
    monkeypatch.setattr(conftest.os, "geteuid", lambda: 1000)
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y chromium"):
        conftest.require_chromium()
