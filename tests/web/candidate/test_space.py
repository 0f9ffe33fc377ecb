"""/espace: only for a logged-in candidate; shows the account and the session's dates."""

from __future__ import annotations

import pytest
from account_helpers import log_in

pytestmark = pytest.mark.anyio


async def test_space_requires_login(client):
    """Anonymous: 303 to the login page with the way back."""
    response = await client.get("/espace")
    assert response.status_code == 303 and response.headers["location"] == "/compte/connexion?suite=%2Fespace"


async def test_space_shows_account_and_dates_from_the_notice(client, candidate, notice_path):
    """Logged in: the e-mail, the window's closing date (from notice.yml) and a logout button."""
    await log_in(client, candidate.email)
    page = await client.get("/espace")
    assert page.status_code == 200
    assert candidate.email in page.text and "jeudi 13 novembre 2025 à 19\xa0h\xa000" in page.text
    assert 'action="/compte/deconnexion"' in page.text
    notice_path.write_text(
        notice_path.read_text().replace("closes: 2025-11-13 19:00", "closes: 2025-11-14 19:00")
    )
    assert "vendredi 14 novembre 2025" in (await client.get("/espace")).text
