"""Signup, resend and reset answer identically for known, pending and unknown addresses."""

from __future__ import annotations

import pytest
from account_helpers import make_client, sign_up

pytestmark = pytest.mark.anyio

FORMS = {
    "/compte/creer": lambda email: {
        "email": email,
        "email_confirm": email,
        "password": "une phrase de passe assez longue",
        "password_confirm": "une phrase de passe assez longue",
        "accept": "oui",
    },
    "/compte/renvoyer-activation": lambda email: {"email": email},
    "/compte/mot-de-passe-oublie": lambda email: {"email": email},
}


def fingerprint(response, email: str) -> tuple:
    """Status, body with the typed address blanked, and the cookies set."""
    return (
        response.status_code,
        response.text.replace(email, "ADRESSE"),
        sorted(h.split("=", 1)[0] for h in response.headers.get_list("set-cookie")),
        response.headers.get("content-length") is None,
    )


@pytest.mark.parametrize("path", list(FORMS))
async def test_same_answer_for_known_pending_and_unknown(app, settings, candidate, path):
    """The page, status and cookies do not tell an active, a pending and an unknown address apart."""
    async with make_client(app, settings, ip="10.1.0.1") as c:
        await sign_up(c, app, "attente@exemple.fr")
    answers = []
    for i, email in enumerate((candidate.email, "attente@exemple.fr", "inconnu@exemple.fr")):
        async with make_client(app, settings, ip=f"10.2.0.{i}") as c:
            response = await c.submit(path, FORMS[path](email))
            answers.append(fingerprint(response, email))
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == 200
