"""End to end in a real Chromium: site, « Créer mon compte », mail, activate, log in, /espace, log out."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import uvicorn
from account_helpers import FAST_ARGON2, SECRET, Mailbox, free_port, wait_until

from formservice.app import create_app
from formservice.server import demo_notice_text
from formservice.settings import Settings
from formservice.store.memory import MemoryEngine

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "une phrase de passe pour chromium"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
]


def minimal_site(site: Path) -> None:
    """What `formservice publish` writes at least: a home page linking to the signup form."""
    site.mkdir(parents=True)
    (site / "index.html").write_text(
        '<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Note aux candidats</title></head>'
        '<body><h1>Note aux candidats</h1><p><a href="/compte/creer">Créer mon compte</a></p></body></html>',
        encoding="utf-8",
    )


@pytest.fixture
def live_server(tmp_path: Path, mailbox: Mailbox) -> Iterator[str]:
    """The service in a real uvicorn, on a free port, with the window open around today."""
    repo = Path(__file__).resolve().parents[2]
    notice = tmp_path / "notice.yml"
    notice.write_text(demo_notice_text((repo / "notice.yml").read_text(encoding="utf-8"), date.today()))
    site = tmp_path / "site"
    if (repo / "site" / "index.html").exists():
        shutil.copytree(repo / "site", site)
    else:
        minimal_site(site)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    settings = Settings(
        notice_path=notice,
        data_dir=tmp_path / "var",
        site_dir=site,
        base_url=base_url,
        secret_keys=(SECRET,),
        smtp=("127.0.0.1", mailbox.port),
        argon2=FAST_ARGON2,
    )
    app = create_app(settings, engine=MemoryEngine())
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", server_header=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout=10)
    try:
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_a_new_candidate_signs_up_activates_and_logs_in(live_server: str, mailbox: Mailbox) -> None:
    """The whole first step of the notice, in a browser, with the mail read from the SMTP server."""
    from playwright.sync_api import expect, sync_playwright

    email = "navigateur@exemple.fr"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-background-networking", "--disable-component-update"],
        )
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.goto(live_server + "/")
            page.get_by_role("link", name="Créer mon compte").first.click()
            expect(page.get_by_role("heading", name="Créer mon compte")).to_be_visible()
            page.get_by_label("Adresse électronique", exact=True).fill(email)
            page.get_by_label("Adresse électronique (à nouveau)").fill(email)
            page.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
            page.get_by_label("Mot de passe (à nouveau)").fill(PASSWORD)
            page.get_by_label("J'ai lu").check()
            page.get_by_role("button", name="Créer mon compte").click()
            expect(page.get_by_role("heading", name="Vérifiez votre messagerie")).to_be_visible()

            wait_until(lambda: bool(mailbox.to(email)), timeout=10)
            link = mailbox.link(email, "/compte/activer/")
            assert link.startswith(live_server + "/compte/activer/")
            page.goto(link)
            page.get_by_role("button", name="Activer mon compte").click()
            expect(page.get_by_text("Votre compte est activé")).to_be_visible()

            page.get_by_role("link", name="Me connecter").last.click()
            page.get_by_label("Adresse électronique").fill(email)
            page.get_by_label("Mot de passe").fill(PASSWORD)
            page.get_by_role("button", name="Me connecter").click()
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
