"""/_service/courriels: the development outbox, listing the mails written as .eml files.

Only routed when the service runs in development with the embedded outbox (no FORMSERVICE_SMTP):
it shows activation and reset links to whoever opens it, which is its whole point on a laptop.
"""

from __future__ import annotations

from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime

from starlette.requests import Request
from starlette.responses import Response

from formservice.mail import LINK_RE, OutboxMailer
from formservice.web.rendering import render
from formservice.web.services import services


def _summary(raw: bytes) -> dict[str, object]:
    """What the page shows of one mail: who, what, when (an aware instant, shown in Paris time by
    the template), its links and its text part as the candidate reads it."""
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    body = msg.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    try:
        sent: datetime | None = parsedate_to_datetime(str(msg["Date"]))
    except (TypeError, ValueError):
        sent = None
    return {
        "to": msg["To"],
        "subject": msg["Subject"],
        "date": sent if sent is not None and sent.tzinfo is not None else None,
        "links": LINK_RE.findall(text),
        "text": text,
    }


async def outbox(request: Request) -> Response:
    mailer = services(request).mailer
    mails = [_summary(p.read_bytes()) for p in mailer.list()[:50]] if isinstance(mailer, OutboxMailer) else []
    return await render(
        request, "candidate/dev/outbox.html", {"mails": mails}, headers={"Referrer-Policy": "no-referrer"}
    )
