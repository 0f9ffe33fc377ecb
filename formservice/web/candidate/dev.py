"""/_service/courriels: the development outbox, listing the mails written as .eml files.

Only routed when the service runs in development with the embedded outbox (no FORMSERVICE_SMTP):
it shows activation and reset links to whoever opens it, which is its whole point on a laptop.
"""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from starlette.requests import Request
from starlette.responses import Response

from formservice.mail import LINK_RE, OutboxMailer
from formservice.web.rendering import render
from formservice.web.services import services


def _summary(raw: bytes) -> dict[str, object]:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    body = msg.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    return {"to": msg["To"], "subject": msg["Subject"], "date": msg["Date"], "links": LINK_RE.findall(text)}


async def outbox(request: Request) -> Response:
    mailer = services(request).mailer
    mails = [_summary(p.read_bytes()) for p in mailer.list()[:50]] if isinstance(mailer, OutboxMailer) else []
    return await render(
        request, "candidate/dev/outbox.html", {"mails": mails}, headers={"Referrer-Policy": "no-referrer"}
    )
