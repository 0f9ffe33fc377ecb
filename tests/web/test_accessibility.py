"""The published pages in a real browser (Debian chromium, headless): accessible (axe-core, WCAG A/AA),
working under the service's strict Content-Security-Policy, on a phone, printed and without JavaScript."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, sync_playwright
from site_fixtures import NOTICE, PAGES, published_site, serve

from formservice.frenchdates import datetime_fr
from formservice.notice import load_notice

pytestmark = pytest.mark.browser

MODEL = load_notice(NOTICE)
WCAG_A_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update"]
PHONE = {"viewport": {"width": 360, "height": 780}, "is_mobile": True, "has_touch": True}


def strict_csp(site: Path) -> str:
    """The policy the form service will send: our own files only, plus the theme's hashed inline scripts."""
    hashes = " ".join(f"'{h}'" for h in json.loads((site / "csp.json").read_text())["script_hashes"])
    return (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self'; img-src 'self' data:; "
        "font-src 'self'; connect-src 'self'; worker-src 'self'; object-src 'none'; base-uri 'self'; "
        "frame-ancestors 'none'"
    )


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    site = published_site(tmp_path_factory)
    with serve(site, {"Content-Security-Policy": strict_csp(site)}) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="fr-FR", timezone_id=MODEL.timezone)
    yield context.new_page()
    context.close()


def violations(page: Page) -> list[str]:
    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_A_AA}})
    return [f"{v['id']}: {v['help']} ({len(v['nodes'])})" for v in results.response["violations"]]


@pytest.mark.parametrize("path", [*PAGES, "404.html"])
def test_page_has_no_wcag_violation(page: Page, base_url: str, path: str) -> None:
    """axe-core finds no WCAG 2.x A/AA violation on the page (desktop)."""
    page.goto(base_url + path)
    assert violations(page) == []


def test_home_on_a_phone_is_accessible_and_fits(browser: Browser, base_url: str) -> None:
    """On a 360 px wide phone the home page has no WCAG violation and no horizontal scrolling."""
    context = browser.new_context(locale="fr-FR", **PHONE)  # type: ignore[arg-type]
    page = context.new_page()
    page.goto(base_url)
    assert violations(page) == []
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    context.close()


def test_pages_work_under_the_strict_csp_and_stay_on_our_host(page: Page, base_url: str) -> None:
    """Under the service's CSP nothing is refused, and every request goes to our own host."""
    refused: list[str] = []
    hosts: set[str] = set()
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("request", lambda r: hosts.add(urlsplit(r.url).netloc))
    for path in PAGES:
        page.goto(base_url + path)
        page.wait_for_load_state("networkidle")
        assert page.get_attribute("[data-fs-annonce]", "data-fs-current")  # our script ran
    assert refused == []
    assert hosts == {urlsplit(base_url).netloc}


def bar_state(page: Page) -> str:
    return page.get_attribute("[data-fs-annonce]", "data-fs-current") or ""


def visible_bar_text(page: Page) -> str:
    text = page.locator("[data-fs-annonce] p:visible").inner_text()
    return re.sub(r"[ \t\r\n\f\v]+", " ", text)  # keeps no-break spaces


def test_bar_before_opening(page: Page, base_url: str) -> None:
    """Before the opening, the bar says registration is not open yet and when it opens."""
    page.clock.install(time=MODEL.opens_at - timedelta(days=3))
    page.goto(base_url)
    assert bar_state(page) == "before"
    assert "pas encore ouvertes" in visible_bar_text(page)
    assert datetime_fr(MODEL.registration.opens) in visible_bar_text(page)


def test_bar_counts_down_while_open_then_closes(page: Page, base_url: str) -> None:
    """While open, the bar counts down to the closing: in minutes for days (no ticking seconds),
    to the second in the last hour; it switches to closed at the closing time."""
    page.clock.install(time=MODEL.closes_at - timedelta(days=2, hours=3, seconds=5))
    page.goto(base_url)
    assert bar_state(page) == "open"
    first = page.inner_text("[data-fs-countdown]")
    assert re.fullmatch(r"2[ \xa0]jours 3[ \xa0]h 00[ \xa0]min", first), first
    page.clock.fast_forward(int(timedelta(days=2, hours=2, seconds=35).total_seconds() * 1000))
    last_hour = page.inner_text("[data-fs-countdown]")
    assert re.fullmatch(r"59[ \xa0]min [0-3][0-9][ \xa0]s", last_hour), last_hour
    page.clock.run_for(2000)
    assert page.inner_text("[data-fs-countdown]") != last_hour
    page.clock.fast_forward(int(timedelta(hours=1).total_seconds() * 1000))
    assert bar_state(page) == "closed"
    assert "closes depuis" in visible_bar_text(page)


def test_bar_after_closing(page: Page, base_url: str) -> None:
    """After the closing, the bar says registration is closed."""
    page.clock.install(time=MODEL.closes_at + timedelta(minutes=1))
    page.goto(base_url)
    assert bar_state(page) == "closed"
    assert datetime_fr(MODEL.registration.closes) in visible_bar_text(page)


def test_without_javascript_the_bar_states_the_dates(browser: Browser, base_url: str) -> None:
    """With JavaScript off, the bar states the opening and closing dates."""
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(base_url)
    text = visible_bar_text(page)
    assert datetime_fr(MODEL.registration.opens) in text and datetime_fr(MODEL.registration.closes) in text
    context.close()


def test_printed_home_keeps_the_dates_and_drops_the_navigation(page: Page, base_url: str) -> None:
    """Printed, the home page shows the dates and the warning, not the header, buttons or navigation."""
    page.goto(base_url)
    page.emulate_media(media="print")
    assert not page.locator(".md-header").is_visible()
    assert not page.locator(".md-button").first.is_visible()
    assert page.locator(".fs-window__dates").is_visible()
    assert page.locator(".fs-warning").is_visible()
