"""Mail: French text + HTML from templates, real SMTP delivery, the development outbox."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser

import jinja2
import pytest

from formservice.mail import Mail, MailQueue, OutboxMailer, SmtpMailer
from formservice.web.rendering import make_env

pytestmark = pytest.mark.anyio


def queue(mailer, notice) -> MailQueue:
    return MailQueue(mailer, make_env(), lambda: {"notice": notice, "base_url": "http://testserver"})


async def test_smtp_mailer_delivers_text_and_html(mailbox, notice):
    """A templated mail reaches the SMTP server with a French text part and an HTML part."""
    mq = queue(SmtpMailer("127.0.0.1", mailbox.port, "ne-pas-repondre@testserver"), notice)
    await mq.send_template(
        "jean@exemple.fr",
        "Activez votre compte",
        "activation",
        {"link": "http://testserver/compte/activer/abc", "deadline": notice.closes_at},
    )
    (msg,) = mailbox.to("jean@exemple.fr")
    assert msg["Subject"] == "Activez votre compte" and msg["From"] == "ne-pas-repondre@testserver"
    assert "Activer mon compte" in mailbox.text(
        msg
    ) and "jeudi 13 novembre 2025 à 19\xa0h\xa000" in mailbox.text(msg)
    assert "http://testserver/compte/activer/abc" in mailbox.html(msg)
    assert notice.poles[0].email in mailbox.text(msg)


async def test_outbox_writes_eml_and_prints_links(tmp_path, notice, capsys):
    """Without SMTP, each mail is an .eml file in the data dir and its links are printed."""
    outbox = OutboxMailer(tmp_path / "outbox", "ne-pas-repondre@localhost")
    await outbox.send(
        Mail("jean@exemple.fr", "Sujet é", "Bonjour\nhttp://testserver/compte/activer/xyz\n", "<p>x</p>")
    )
    (path,) = outbox.list()
    msg = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    assert msg["Subject"] == "Sujet é"
    assert "http://testserver/compte/activer/xyz" in capsys.readouterr().out


async def test_failed_delivery_is_retried_then_logged(notice, caplog, monkeypatch):
    """A transport failure is retried, then logged without the recipient; the request never fails."""
    calls = []

    class Broken:
        async def send(self, mail):
            calls.append(mail)
            raise OSError("connexion refusée")

    monkeypatch.setattr(MailQueue, "RETRY_DELAYS", (0.0, 0.0))
    mq = queue(Broken(), notice)
    await mq.send(Mail("jean@exemple.fr", "Sujet", "texte"))
    assert len(calls) == 3 and mq.failed == 1
    assert "jean@exemple.fr" not in caplog.text


def test_every_mail_template_has_text_and_html():
    """Each mail/<name>.txt has its .html sibling (and partials start with _)."""
    env: jinja2.Environment = make_env()
    names = [
        n for n in env.list_templates() if n.startswith("mail/") and not n.split("/")[-1].startswith("_")
    ]
    stems = {n.rsplit(".", 1)[0] for n in names}
    assert {"mail/activation", "mail/reset", "mail/receipt"} <= stems  # the templates were found at all
    for stem in stems:
        assert f"{stem}.txt" in names and f"{stem}.html" in names


def test_header_values_never_carry_a_line_break():
    """A subject built from a name typed with a line feed stays one header line, encodable."""
    from formservice.mail import Mail, header_text

    subject = header_text("Changement d'adresse — Durand\nBcc: victime@exemple.fr\r\n\u2028Camille")
    assert subject == "Changement d'adresse — Durand Bcc: victime@exemple.fr Camille"
    message = Mail(to="pole@exemple.fr", subject=subject, text="x").message("a@b.fr", "b.fr")
    assert "\n" not in message["Subject"] and message["Bcc"] is None
    message.as_bytes()  # encodes
