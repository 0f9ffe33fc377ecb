"""« Mentions légales » and « Déclaration d'accessibilité »: from notice.yml's ``legal`` section,
linked from the footer of every page, an editor's change shown at once."""

from __future__ import annotations

import html
from pathlib import Path

import pytest
from account_helpers import Client

from formservice.notice import Notice
from formservice.typography import french_text

pytestmark = pytest.mark.anyio


async def test_both_pages_say_the_notice_s_facts(client: Client, notice: Notice) -> None:
    """Publisher, director, host; the conformity status, the RGAA version, the date, the pôles
    to contact and the recourse, as notice.yml says them."""
    legal = notice.legal
    page = html.unescape((await client.page("/mentions-legales")).text)
    for fact in (legal.publisher, legal.address, legal.director, legal.host, legal.host_address):
        assert french_text(fact) in page
    statement = html.unescape((await client.page("/accessibilite")).text)
    a11y = legal.accessibility
    assert f"Ce service est <strong>{a11y.status}</strong>" in statement
    assert f"version {a11y.rgaa_version}" in statement and french_text(a11y.recourse.phone) in statement
    assert all(pole.email in statement for pole in notice.poles)
    assert all(french_text(item) in statement for item in a11y.non_compliant)


async def test_every_page_s_footer_links_to_them(client: Client, notice: Notice) -> None:
    """The footer names the conformity status, as the RGAA asks (« Accessibilité : … »)."""
    status = notice.legal.accessibility.status
    for path in ("/compte/connexion", "/compte/creer", "/mentions-legales", "/accessibilite"):
        page = html.unescape((await client.page(path)).text)
        assert 'href="/mentions-legales">Mentions légales</a>' in page
        assert french_text(f'href="/accessibilite">Accessibilité : {status}</a>') in page


async def test_an_editor_s_change_is_shown_without_restart(client: Client, notice_path: Path) -> None:
    """Confirmed facts (example: false) and a new status: the banner goes, the status follows."""
    text = notice_path.read_text(encoding="utf-8")
    assert "  example: true\n  accessibility:" in text
    text = text.replace("  example: true\n  accessibility:", "  example: false\n  accessibility:")
    notice_path.write_text(text.replace("status: non conforme", "status: partiellement conforme"), "utf-8")
    page = html.unescape((await client.page("/accessibilite")).text)
    assert "partiellement conforme" in page and "à confirmer" not in page
