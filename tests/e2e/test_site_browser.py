"""The site and the service in one real Chromium, as one product: the site's search on a second
visit, French typography as laid out on a 375 px phone, headers that leave the screen to the page."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from account_helpers import Mailbox
from typography_helpers import LINE_BREAK_PROBLEMS_JS

from e2e.conftest import CHROMIUM, CHROMIUM_ARGS, Live, activate_and_log_in, fill_signup

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
]

PHONE = {"viewport": {"width": 375, "height": 667}, "is_mobile": True, "has_touch": True}
PASSWORD = "une phrase assez longue pour le test"


@pytest.fixture
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def search(page, words: str) -> list[str]:
    """Type `words` in Material's search box and return the titles and excerpts found."""
    box = page.locator(".md-search__input")
    box.click()
    box.press_sequentially(words)  # Material searches on key strokes
    page.locator(".md-search-result__item").first.wait_for(timeout=10_000)
    return page.locator(".md-search-result__item").all_inner_texts()


def test_search_works_on_a_second_visit_and_finds_french_words(live_site: Live, browser, caplog) -> None:
    """The site's search, served by the service, answers on the first visit and on the next one
    (when the browser revalidates its copies and gets 304s), and finds « identité » in
    « d'identité » and « JDC » in « (JDC) »."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="fr-FR")
    page = context.new_page()
    caplog.set_level(logging.INFO, logger="formservice.access")  # the server's side of the visit
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(live_site.base_url + "/")
    assert any("identité" in found for found in search(page, "identité"))
    page.goto(live_site.base_url + "/")  # the second visit: the browser revalidates its copies
    found = search(page, "JDC")
    assert any("(JDC)" in text for text in found), found
    revalidated = [m for m in caplog.messages if m.startswith("GET ") and " 304 " in m]
    assert any(m.startswith(("GET / ", "GET /search/search_index.json ")) for m in revalidated), revalidated
    assert refused == []
    context.close()


def line_break_problems(page) -> list[str]:
    return list(page.evaluate(LINE_BREAK_PROBLEMS_JS))


def covered_by_header(page, selectors: str) -> float:
    """The share of the first screen above the page's own content (header, banner, tabs)."""
    bottom = page.evaluate(
        "(s) => Math.max(...[...document.querySelectorAll(s)].map(e => e.getBoundingClientRect().bottom))",
        selectors,
    )
    return float(bottom) / 667


def test_on_a_phone_no_line_starts_with_punctuation_and_headers_stay_small(
    live_site: Live, browser, mailbox: Mailbox
) -> None:
    """At 375 px, as Chromium lays the text out: no line of a site page or a service page starts
    with « : ; ? ! » » nor ends with « « », no phone number is split; the header (with the
    announcement on the site, with the tabs in the space) takes at most a quarter of the screen."""
    context = browser.new_context(locale="fr-FR", **PHONE)
    page = context.new_page()
    base = live_site.base_url
    problems: dict[str, list[str]] = {}
    covered: dict[str, float] = {}
    for path in ("/", "/pieces-justificatives/", "/contacts/", "/inscription/"):
        page.goto(base + path)
        problems[path] = line_break_problems(page)
        covered[path] = covered_by_header(page, ".md-header, [data-md-component=announce]")
    page.goto(base + "/compte/creer")
    problems["/compte/creer"] = line_break_problems(page)
    fill_signup(page, "typographie@exemple.fr", PASSWORD)
    activate_and_log_in(page, base, mailbox, "typographie@exemple.fr", PASSWORD)
    for path in ("/espace", "/espace/inscription", "/espace/justificatifs"):
        page.goto(base + path)
        problems[path] = line_break_problems(page)
        covered[path] = covered_by_header(page, ".header, .tabs")
    page.screenshot(path=str(live_site.shots / "justificatifs-375.png"))
    context.close()
    assert {path: found for path, found in problems.items() if found} == {}
    assert {path: share for path, share in covered.items() if share > 0.25} == {}
