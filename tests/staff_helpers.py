"""The office's side through HTTP, for the tests: a member invited and enrolled through the
pages, logged in with a TOTP code; a candidate's dossier made through the real use cases."""

from __future__ import annotations

import re

import pyotp
from account_helpers import Client
from enrolment_forms import valid_enrolment_form

from formservice.enrolment import rules

STAFF_PASSWORD = "bureau des examens 2026 !"
SECRET_RE = re.compile(r'name="secret" value="([A-Z2-7]+)"')
TICKET_RE = re.compile(r'name="ticket" value="([^"]+)"')


async def enrol_staff(app, client: Client, mailbox, clock, email: str, role: str, poles: list[str]) -> str:
    """Invite through the service (as the command line does), then activate through the pages;
    returns the TOTP secret."""
    await app.state.services.staff.invite(email, role, poles)
    await app.state.services.mail.drain()
    link = mailbox.link(email, "/gestion/invitation/")
    page = await client.page(link)
    assert page.status_code == 200 and "<svg" in page.text and 'autocomplete="one-time-code"' in page.text
    secret = SECRET_RE.search(page.text).group(1)
    code = pyotp.TOTP(secret).at(clock.now())
    done = await client.post(
        link,
        data={
            "csrf_token": client.csrf(),
            "secret": secret,
            "password": STAFF_PASSWORD,
            "password_confirm": STAFF_PASSWORD,
            "code": code,
        },
    )
    assert done.status_code == 200 and done.text.count("<li><code>") == 10, done.text[:3000]
    assert (await client.get(link)).status_code == 400  # the invitation served once
    return secret


async def staff_login(client: Client, clock, email: str, secret: str) -> None:
    clock.advance(seconds=31)  # a new time step: the enrolment's code cannot serve again
    step1 = await client.submit("/gestion/connexion", {"email": email, "password": STAFF_PASSWORD})
    assert step1.status_code == 200 and 'inputmode="numeric"' in step1.text
    ticket = TICKET_RE.search(step1.text).group(1)
    step2 = await client.post(
        "/gestion/connexion/code",
        data={
            "csrf_token": client.csrf(step1.text),
            "ticket": ticket,
            "code": pyotp.TOTP(secret).at(clock.now()),
        },
    )
    assert step2.status_code == 303 and step2.headers["location"] == "/gestion/"


async def dossier(
    app, client: Client, email: str, speciality: str, *, deposit: bool = False, **fields: str
) -> str:
    """A candidate of ``speciality`` who saved « M'inscrire » (and, with ``deposit``, added a file
    for every piece and clicked « J'ai fourni toutes mes pièces »): returns the enrolment id."""
    from account_helpers import sign_up
    from upload_helpers import chunks, minimal_pdf, multipart

    await sign_up(client, app, email)
    svc = app.state.services
    await svc.mail.drain()
    account = await svc.store.accounts.by_email(email)
    notice = svc.notice()
    exam = next(e for e in notice.exams if any(s.id == speciality for s in e.specialities))
    form = valid_enrolment_form(notice, exam=exam.id, speciality=speciality, **fields)
    data = rules.read_form(form, notice).data
    outcome = await svc.enrolment.save(account, None, data, 0, notice, svc.clock.now())
    current = outcome.enrolment
    if deposit:
        for document in rules.required_documents(notice, data):
            headers, parts = multipart("file", "t", minimal_pdf())
            await svc.enrolment.upload(
                account, current, document.id, headers, chunks(parts), lambda t: None, notice
            )
            current = await svc.enrolment.current(account["id"], notice)
        await svc.enrolment.complete(account, current, notice, svc.clock.now())
    return current["id"]
