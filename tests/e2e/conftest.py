"""Fixtures for the browser tests: one headless Chromium per session, a fresh context and page per test,
the app served by pytest-django's live server, and helpers to log in and take screenshots.

The tests skip (with the reason) when Chromium is missing: CI installs Debian's ``chromium``, a developer
machine may not have it. ``RAPPORT_CHROMIUM`` points at another binary. ``playwright install`` is never
needed: the system browser is used.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import APIRequestContext, Browser, Page, Playwright, expect, sync_playwright

# Playwright's sync API runs an event loop in the test's thread, which makes Django refuse database
# access from it ("You cannot call this from an async context") although nothing here is async.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = os.environ.get("RAPPORT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-results" / "screenshots"
# Pages are shot at a laptop width, and again at a desktop width for the visual review.
VIEWPORT = {"width": 1280, "height": 800}
DESKTOP_WIDTH = 1440
# Generous for a loaded 2-core CI machine; a test waits only as long as the page needs.
TIMEOUT_MS = 15_000
# RAPPORT_SCREENSHOTS=0 skips the screenshots (a few seconds) when nobody is going to look at them.
TAKE_SCREENSHOTS = os.environ.get("RAPPORT_SCREENSHOTS", "1") != "0"


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    """Playwright, driving the system's Chromium (skips when there is none)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's chromium package or set RAPPORT_CHROMIUM")
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """One headless Chromium for the whole session (per xdist worker)."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def _media_off_the_root() -> Iterator[None]:
    """Give uploads a URL prefix before the live server starts.

    Django's live server serves files from ``MEDIA_ROOT`` under ``MEDIA_URL``, which is unset, so it
    answered ``/imports/<pk>/rejected.csv`` straight from the uploads directory instead of calling the
    view (no access check, wrong file name). Rapport never serves uploads by URL; a prefix nothing links
    to keeps the live server's file handler out of the way.
    """
    from django.test import override_settings

    with override_settings(MEDIA_URL="/media-not-served/"):
        yield


@pytest.fixture(scope="session")
def live_server(_media_off_the_root, live_server):
    """pytest-django's live server, started after ``_media_off_the_root``."""
    return live_server


@pytest.fixture
def page(browser: Browser, live_server) -> Iterator[Page]:
    """A page in a new browser context (own cookies) pointed at the live server.

    The test fails if a script on any page threw, or if a static file (CSS, JS, fonts) failed to load:
    a page that only looks right with a console open is not right.
    """
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT, accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    page = context.new_page()
    script_errors: list[str] = []
    broken_assets: list[str] = []
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    page.on(
        "response",
        lambda response: (
            broken_assets.append(f"{response.status} {response.url}")
            if "/static/" in response.url and response.status >= 400
            else None
        ),
    )
    # A request cut short because the page moved on (net::ERR_ABORTED: an htmx call or a font still
    # loading when a link is clicked) is normal; any other failure to fetch a static file is not.
    page.on(
        "requestfailed",
        lambda request: (
            broken_assets.append(f"{request.failure} {request.url}")
            if "/static/" in request.url and "ERR_ABORTED" not in (request.failure or "")
            else None
        ),
    )
    yield page
    context.close()
    assert script_errors == [], f"scripts threw on the page: {script_errors}"
    assert broken_assets == [], f"static files did not load: {broken_assets}"


@pytest.fixture
def api_client(playwright: Playwright, live_server) -> Iterator[APIRequestContext]:
    """HTTP requests to the live server without the browser's cookies, as an integration makes them."""
    context = playwright.request.new_context(base_url=live_server.url)
    yield context
    context.dispose()


def log_in(page: Page, username: str, password: str) -> None:
    """Log in through the real form and wait for the dashboard."""
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Good to see you")


def screenshot(page: Page, name: str) -> None:
    """Save a full-page screenshot as ``test-results/screenshots/<name>.png``, and ``<name>-1440.png``
    at a desktop width, for a person to look at (never compared by the tests)."""
    if not TAKE_SCREENSHOTS:
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # Wait until no request (htmx polling, fonts) is in flight, so the picture shows the settled page.
    page.wait_for_load_state("networkidle")
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True, animations="disabled", caret="initial")
    size = page.viewport_size or VIEWPORT
    page.set_viewport_size({"width": DESKTOP_WIDTH, "height": size["height"]})
    try:
        page.screenshot(
            path=SCREENSHOTS / f"{name}-{DESKTOP_WIDTH}.png", full_page=True, animations="disabled", caret="initial"
        )
    finally:
        page.set_viewport_size(size)


def url_path(pattern: str) -> re.Pattern[str]:
    """A regular expression matching an absolute URL whose path (and query) is ``pattern``."""
    return re.compile(r"^https?://[^/]+" + pattern + r"$")
