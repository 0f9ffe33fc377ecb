"""End to end in a real Chromium: site, « Créer mon compte », mail, activate, log in, /espace, log out."""

from __future__ import annotations

from pathlib import Path

import pytest
from account_helpers import Mailbox, wait_until

from e2e.conftest import CHROMIUM, CHROMIUM_ARGS, Live, fill_signup

PASSWORD = "une phrase de passe pour chromium"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
]


def test_a_new_candidate_signs_up_activates_and_logs_in(live: Live, mailbox: Mailbox) -> None:
    """The whole first step of the notice, in a browser, with the mail read from the SMTP server."""
    from playwright.sync_api import expect, sync_playwright

    live_server = live.base_url
    email = "navigateur@exemple.fr"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
        )
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.goto(live_server + "/")
            page.get_by_role("link", name="Créer mon compte").first.click()
            expect(page.get_by_role("heading", name="Créer mon compte")).to_be_visible()
            fill_signup(page, email, PASSWORD)
            expect(page.get_by_role("heading", name="Vérifiez votre messagerie")).to_be_visible()

            wait_until(lambda: bool(mailbox.to(email)), timeout=10)
            link = mailbox.link(email, "/compte/activer/")
            assert link.startswith(live_server + "/compte/activer/")
            page.goto(link)
            page.get_by_role("button", name="Activer mon compte").click()
            expect(page.get_by_text("Votre compte est activé")).to_be_visible()

            page.get_by_role("link", name="Se connecter").last.click()
            page.get_by_label("Adresse électronique").fill(email)
            page.get_by_label("Mot de passe").fill(PASSWORD)
            page.get_by_role("button", name="Se connecter").click()
            expect(page).to_have_url(live_server + "/espace")
            expect(page.get_by_role("heading", name="Mon espace candidat")).to_be_visible()
            expect(page.get_by_text(email)).to_be_visible()
            cookies = page.context.cookies()
            assert any(c["name"] == "sid" and c["httpOnly"] and c["sameSite"] == "Lax" for c in cookies)

            page.get_by_role("button", name="Se déconnecter").click()
            expect(page.get_by_text("Vous êtes déconnecté")).to_be_visible()
            page.goto(live_server + "/espace")
            expect(page).to_have_url(live_server + "/compte/connexion?suite=%2Fespace")
            assert not [e for e in errors if "Content Security Policy" in e], errors
        finally:
            browser.close()
