"""A real headless Chromium (Debian's) driven by Playwright, for end-to-end dashboard tests.

One browser per test session (``chromium``), a new context per test (``browser_page``),
the bot's aiohttp app served on a free loopback port (``live_dashboard``).
Screenshots go to ``tests/artifacts/`` (git-ignored) for people to look at.
No ``playwright install``: the Makefile's ``system-deps`` installs /usr/bin/chromium.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, async_playwright

from bot.bootstrap import App

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

__all__ = ["browser_page", "chromium", "live_dashboard", "screenshot"]


def _installed() -> bool:
    return CHROMIUM.exists()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def chromium() -> AsyncIterator[Browser]:
    if not _installed():
        pytest.fail(f"{CHROMIUM} is missing. Run `make test`, which installs Debian's chromium.",
                    pytrace=False)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM),
                                                   args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest_asyncio.fixture(loop_scope="session")
async def browser_page(chromium: Browser) -> AsyncIterator[Page]:
    """A fresh browser context (no cookies) with one page, a phone-friendly width by default."""
    context = await chromium.new_context(viewport={"width": 1100, "height": 800},
                                         locale="fr-FR")
    page = await context.new_page()
    try:
        yield page
    finally:
        await context.close()


@pytest_asyncio.fixture(loop_scope="session")
async def live_dashboard(app: App) -> AsyncIterator[str]:
    """The app's HTTP server on a free port; yields its base URL (no trailing slash)."""
    server = TestServer(app.web.app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)  # noqa: ASYNC240
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
