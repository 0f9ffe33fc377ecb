"""Mail: French text + HTML from templates, real SMTP delivery, the development outbox."""

from __future__ import annotations

import smtplib
from email import policy
from email.parser import BytesParser

import jinja2
import pytest
from tls_helpers import self_signed_certificate

from formservice.mail import Mail, MailRenderer, OutboxMailer, SmtpMailer, is_permanent
from formservice.web.rendering import make_env

pytestmark = pytest.mark.anyio


def renderer(notice) -> MailRenderer:
    return MailRenderer(make_env(), lambda: {"notice": notice, "base_url": "http://testserver"}, "testserver")


async def test_smtp_mailer_delivers_text_and_html(mailbox, notice):
    """A templated mail reaches the SMTP server with a French text part and an HTML part."""
    smtp = SmtpMailer("127.0.0.1", mailbox.port, "ne-pas-repondre@testserver")
    mail = renderer(notice).render(
        "jean@exemple.fr",
        "Activez votre compte",
        "activation",
        {"link": "http://testserver/compte/activer/abc", "deadline": notice.closes_at},
    )
    await smtp.send(mail)
    smtp.close()
    (msg,) = mailbox.to("jean@exemple.fr")
    assert msg["Message-ID"] == mail.message_id
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


async def test_a_burst_reuses_one_connection(mailbox, notice):
    """Ten mails in a row go through one SMTP connection (no handshake per mail)."""
    smtp = SmtpMailer("127.0.0.1", mailbox.port, "ne-pas-repondre@testserver")
    mailbox.clear()
    for i in range(10):
        await smtp.send(Mail(f"rafale{i}@exemple.fr", "Sujet", "texte"))
    smtp.close()
    assert all(mailbox.to(f"rafale{i}@exemple.fr") for i in range(10))
    assert len(set(mailbox.peers[-10:])) == 1  # one client port: one connection


async def test_starttls_required_refuses_a_relay_without_it(mailbox):
    """In the STARTTLS-required mode, a relay that does not offer it gets nothing in clear."""
    smtp = SmtpMailer("127.0.0.1", mailbox.port, "ne-pas-repondre@testserver", security="starttls")
    with pytest.raises(smtplib.SMTPNotSupportedError):
        await smtp.send(Mail("clair@exemple.fr", "Sujet", "texte"))
    assert mailbox.to("clair@exemple.fr") == []


def test_permanent_and_temporary_failures_are_told_apart():
    """5xx answers and unencodable mails are permanent; refused connections and 4xx are not."""
    assert is_permanent(smtplib.SMTPDataError(554, b"rejected"))
    assert is_permanent(smtplib.SMTPRecipientsRefused({"x@y.fr": (550, b"no such user")}))
    assert is_permanent(UnicodeEncodeError("ascii", "é", 0, 1, "x"))
    assert not is_permanent(smtplib.SMTPDataError(451, b"try later"))
    assert not is_permanent(ConnectionRefusedError())
    assert not is_permanent(smtplib.SMTPServerDisconnected())


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


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1, made with Debian's openssl."""
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


def _server_context(certificate: tuple[str, str]):
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


class _Login:
    """aiosmtpd authenticator: one account."""

    def __call__(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult

        ok = auth_data.login == b"relais" and auth_data.password == b"mot-de-passe"
        return AuthResult(success=ok)


async def test_starttls_with_auth_delivers_over_tls(certificate):
    """STARTTLS required and AUTH: the mail goes through a relay that accepts nothing in clear."""
    from account_helpers import Mailbox, free_port
    from aiosmtpd.controller import Controller

    box = Mailbox()
    port = free_port()
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=port,
        tls_context=_server_context(certificate),
        require_starttls=True,
        auth_required=True,
        authenticator=_Login(),
    )
    controller.start()
    try:
        smtp = SmtpMailer(
            "127.0.0.1",
            port,
            "ne-pas-repondre@testserver",
            security="starttls",
            username="relais",
            password="mot-de-passe",
            cafile=certificate[0],
        )
        await smtp.send(Mail("chiffre@exemple.fr", "Sujet", "texte"))
        smtp.close()
    finally:
        controller.stop()
    assert len(box.to("chiffre@exemple.fr")) == 1


async def test_implicit_tls_delivers(certificate):
    """Implicit TLS (port 465 style): the connection is encrypted from the first byte."""
    from account_helpers import Mailbox, free_port
    from aiosmtpd.controller import Controller

    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port, ssl_context=_server_context(certificate))
    controller.start()
    try:
        smtp = SmtpMailer(
            "127.0.0.1", port, "ne-pas-repondre@testserver", security="tls", cafile=certificate[0]
        )
        await smtp.send(Mail("tls@exemple.fr", "Sujet", "texte"))
        smtp.close()
    finally:
        controller.stop()
    assert len(box.to("tls@exemple.fr")) == 1
