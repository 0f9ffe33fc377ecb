"""The development outbox page on a phone: readable, inside the screen, accessible."""

from __future__ import annotations

from pathlib import Path

import pytest
from account_helpers import wait_until

from e2e.conftest import CHROMIUM, CHROMIUM_ARGS, Live, fill_signup

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
]

WCAG_A_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def test_the_outbox_fits_a_phone_and_shows_the_mail(live_outbox: Live) -> None:
    """At 375 px the page does not scroll sideways (long activation links wrap), « Lire le
    courriel » opens the mail's text inside the screen, the date is French, axe finds nothing."""
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 375, "height": 667}, locale="fr-FR")
            page.goto(live_outbox.base_url + "/compte/creer")
            fill_signup(page, "boite@exemple.fr", "une phrase assez longue pour le test")
            page.get_by_role("heading", name="Vérifiez votre messagerie").wait_for()
            wait_until(lambda: any((live_outbox.data_dir / "outbox").glob("*.eml")), timeout=10)
            page.goto(live_outbox.base_url + "/_service/courriels")
            page.get_by_text("Lire le courriel").first.click()
            text = page.locator(".mail__text").first
            assert "Bonjour" in text.inner_text()
            box = text.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375
            assert page.evaluate(
                "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
            )
            assert "(heure de Paris)" in page.locator(".mail .meta").first.inner_text()
            results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_A_AA}})
            assert [v["id"] for v in results.response["violations"]] == []
            page.screenshot(path=str(live_outbox.shots / "outbox-375.png"), full_page=True)
        finally:
            browser.close()
