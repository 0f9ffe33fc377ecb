"""Every flow is run, then every log is scanned: no password, token, cookie, hash or clear e-mail."""

from __future__ import annotations

import logging

import httpx
import pytest
from account_helpers import PASSWORD, activate_from_mail, log_in, sign_up

pytestmark = pytest.mark.anyio

NEW_PASSWORD = "encore une toute autre phrase"


async def test_no_secret_in_any_log(client, app, mailbox, settings, caplog, capsys):
    """Signup, activation, failed and good logins, change, reset, resend, logout: logs hold no secret."""
    caplog.set_level(logging.DEBUG)
    svc = app.state.services
    email, pending = "secret.candidat@exemple.fr", "en.attente@exemple.fr"
    await sign_up(client, app, email)
    await sign_up(client, app, pending)
    await client.submit("/compte/renvoyer-activation", {"email": pending})
    await activate_from_mail(client, mailbox, email)
    await log_in(client, email, "mauvais mot de passe !")
    await log_in(client, pending)
    await log_in(client, email)
    await client.submit(
        "/compte/mot-de-passe",
        {"current_password": PASSWORD, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
    )
    session_cookie = client.cookies["sid"]
    await client.submit("/compte/deconnexion", {}, form_page="/espace")
    await client.submit("/compte/mot-de-passe-oublie", {"email": email})
    await svc.mail.drain()
    reset = httpx.URL(mailbox.link(email, "/compte/reinitialiser/")).path
    await client.page(reset)
    await client.post(
        reset, data={"password": PASSWORD, "password_confirm": PASSWORD, "csrf_token": client.csrf()}
    )
    await client.post("/compte/connexion", data={"email": email, "password": PASSWORD})  # no token: refused
    await svc.mail.drain()

    tokens = [
        link.rsplit("/", 1)[1] for m in mailbox.messages for link in mailbox.links(m) if "/compte/" in link
    ]
    tokens = [t for t in tokens if "." in t]
    account = await svc.store.accounts.by_email(email)
    secrets = [PASSWORD, NEW_PASSWORD, session_cookie, email, pending, account["password_hash"], *tokens]
    assert len(tokens) >= 3
    ours = [r for r in caplog.records if r.name.startswith(("formservice", "uvicorn", "starlette"))]
    logs = "\n".join(r.getMessage() for r in ours)
    logs += "\n" + (settings.data_dir / "audit.log").read_text()
    logs += "\n" + capsys.readouterr().out
    assert "account.activated" in logs and "login.failure" in logs and "password.reset" in logs
    assert "/compte/activer/{token}" in logs  # the access log names the route, not the token
    for secret in secrets:
        assert secret not in logs, f"secret found in logs: {secret[:12]}…"
    assert "@" not in (settings.data_dir / "audit.log").read_text()
