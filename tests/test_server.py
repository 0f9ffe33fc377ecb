"""`formservice serve | demo | purge`: configuration errors, the demo notice, the purge command."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from formservice import server
from formservice.accounts.rules import ACTIVE, new_account
from formservice.notice import load_notice, parse_notice
from formservice.settings import Settings
from formservice.store import StoreError, StoreLocked
from formservice.store.memory import MemoryEngine


def test_demo_notice_moves_every_date_by_the_same_days(notice_path, tmp_path):
    """The demo copy opened 7 days ago at the usual hour; the closing, the documents' deadline and
    the date ages are counted at move by as many days (the window keeps its length); it stays
    valid and keeps the comments."""
    real = load_notice(notice_path).registration
    text = server.demo_notice_text(notice_path.read_text(), date(2026, 3, 10))
    demo = parse_notice(text)
    shift = demo.registration.opens - real.opens
    assert demo.registration.opens == datetime(2026, 3, 3, real.opens.hour, real.opens.minute)
    assert shift.seconds == 0  # whole days: every hour stays as written
    assert demo.registration.closes == real.closes + shift
    assert demo.registration.documents_deadline == real.documents_deadline + shift
    assert demo.registration.age_reference_date == real.age_reference_date + shift
    assert "# Délai pour cliquer" in text
    assert demo.poles == load_notice(notice_path).poles


def test_prepare_demo_writes_a_copy_and_never_edits_notice_yml(notice_path, tmp_path):
    """`demo` serves data_dir/demo/notice.yml; notice.yml itself is unchanged."""
    before = notice_path.read_text()
    settings = Settings(notice_path=notice_path, data_dir=tmp_path / "var", secret_keys=("k" * 40,))
    demo = server.prepare_demo(settings, date(2026, 3, 10), publish_site=False)
    assert demo.notice_path == tmp_path / "var" / "demo" / "notice.yml"
    assert load_notice(demo.notice_path).registration.opens.date() == date(2026, 3, 3)
    assert notice_path.read_text() == before


def test_serve_refuses_bad_configuration(monkeypatch, capsys):
    """A production start without secret key prints the French problems and exits 2."""
    monkeypatch.setenv("FORMSERVICE_ENV", "production")
    monkeypatch.delenv("FORMSERVICE_SECRET_KEY", raising=False)
    assert server.serve("127.0.0.1", 8000, demo=False) == 2
    assert "FORMSERVICE_SECRET_KEY" in capsys.readouterr().err


def test_serve_refuses_a_locked_data_dir(monkeypatch, tmp_path, notice_path, capsys):
    """When another process holds the data directory, serve says so and exits 1."""
    monkeypatch.setenv("FORMSERVICE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("FORMSERVICE_NOTICE", str(notice_path))

    def locked(data_dir):
        raise StoreLocked("busy")

    monkeypatch.setattr("formservice.store.factory.open_engine", locked)
    assert server.serve("127.0.0.1", 8000, demo=False) == 1
    assert "déjà utilisé" in capsys.readouterr().err


@pytest.fixture
def serve_env(monkeypatch, tmp_path, notice_path):
    """A development environment for serve, with uvicorn and the web app replaced by recorders."""
    for name in ("FORMSERVICE_ENV", "FORMSERVICE_BASE_URL", "FORMSERVICE_SMTP", "FORMSERVICE_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FORMSERVICE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("FORMSERVICE_NOTICE", str(notice_path))
    calls: dict[str, object] = {}
    engine = MemoryEngine()
    monkeypatch.setattr("formservice.store.factory.open_engine", lambda url: engine)

    def create_app(settings, *, engine, reconcile_files=None):
        calls["settings"], calls["engine"] = settings, engine
        return "app"

    monkeypatch.setattr("formservice.web.app.create_app", create_app)
    monkeypatch.setattr("uvicorn.run", lambda app, **options: calls.update(app=app, options=options))
    calls["memory_engine"] = engine
    return calls


def test_serve_starts_uvicorn_once_everything_is_checked(serve_env, tmp_path, capsys, caplog):
    """serve warns about the generated key, announces the address, runs uvicorn as set up, exits 0."""
    assert server.serve("127.0.0.1", 8000, demo=False) == 0
    assert serve_env["engine"] is serve_env["memory_engine"] and serve_env["app"] == "app"
    assert serve_env["options"] == {
        "host": "127.0.0.1",
        "port": 8000,
        "server_header": False,
        "access_log": False,
        "proxy_headers": True,
        "forwarded_allow_ips": "127.0.0.1",
        "log_level": "info",
        "log_config": None,
        "limit_concurrency": 400,
        "timeout_keep_alive": 5,
        "h11_max_incomplete_event_size": 64 * 1024,
    }
    out = capsys.readouterr().out
    assert out == f"Service en ligne sur http://127.0.0.1:8000/ (données : {tmp_path / 'var'})\n"
    assert "clé secrète générée pour le développement" in caplog.text


def test_serve_demo_serves_the_demo_copy_of_the_notice(serve_env, monkeypatch, tmp_path):
    """`demo` hands the app the copy in data_dir/demo, not notice.yml."""
    real = server.prepare_demo
    monkeypatch.setattr(server, "prepare_demo", lambda settings: real(settings, publish_site=False))
    assert server.serve("127.0.0.1", 8000, demo=True) == 0
    assert serve_env["settings"].notice_path == tmp_path / "var" / "demo" / "notice.yml"


def test_serve_refuses_an_invalid_notice(serve_env, notice_path, capsys):
    """A notice.yml with an error prints its report and the French refusal, exits 1, opens no store."""
    notice_path.write_text("inscription: [\n", encoding="utf-8")
    assert server.serve("127.0.0.1", 8000, demo=False) == 1
    err = capsys.readouterr().err
    assert err.endswith("\nLe service n'a pas démarré : corrigez notice.yml (formservice check).\n")
    assert "engine" not in serve_env


def test_serve_demo_without_a_notice_says_it_cannot_read_it(serve_env, notice_path, capsys):
    """In demo mode a missing notice.yml fails while copying it: « Lecture impossible », exit 1."""
    notice_path.unlink()
    assert server.serve("127.0.0.1", 8000, demo=True) == 1
    assert capsys.readouterr().err.startswith("Lecture impossible : ")


def test_serve_reports_a_data_dir_that_cannot_be_opened(serve_env, monkeypatch, tmp_path, capsys):
    """Any other store error names the data directory and the cause, and exits 1."""

    def broken(url):
        raise StoreError("format inconnu")

    monkeypatch.setattr("formservice.store.factory.open_engine", broken)
    assert server.serve("127.0.0.1", 8000, demo=False) == 1
    assert capsys.readouterr().err == (
        f"Le dossier de données {tmp_path / 'var'} ne peut pas être ouvert : format inconnu\n"
    )


@pytest.fixture
def purge_env(monkeypatch, tmp_path, notice_path):
    engine = MemoryEngine()
    now = datetime.now(UTC)
    old = now - timedelta(hours=49)
    for account in (
        new_account("late", "late@exemple.fr", "h", old),
        new_account("fresh", "fresh@exemple.fr", "h", now),
        new_account("active", "active@exemple.fr", "h", old) | {"status": ACTIVE},
    ):
        engine._tables["accounts"][account["id"]] = account
    monkeypatch.setenv("FORMSERVICE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("FORMSERVICE_NOTICE", str(notice_path))
    monkeypatch.setattr("formservice.store.factory.open_engine", lambda data_dir: engine)
    return engine


def test_purge_dry_run_lists_without_deleting(purge_env, capsys):
    """`purge --dry-run` counts the expired pending account and deletes nothing."""
    assert server.purge(dry_run=True) == 0
    assert "1 compte non activé dans le délai à supprimer" in capsys.readouterr().out
    assert set(purge_env._tables["accounts"]) == {"late", "fresh", "active"}


def test_purge_deletes_only_expired_pending_accounts(purge_env, capsys, tmp_path):
    """`purge` deletes the expired pending account, never the fresh or the active one, and logs it."""
    assert server.purge(dry_run=False) == 0
    out = capsys.readouterr().out
    assert "1 compte non activé dans le délai supprimé" in out and "late@exemple.fr" not in out
    assert set(purge_env._tables["accounts"]) == {"fresh", "active"}
    assert "account.purged" in (tmp_path / "var" / "audit.log").read_text()


def test_staff_commands_invite_list_and_disable(monkeypatch, tmp_path, notice_path, capsys, mailbox):
    """`formservice staff invite` mails a link (and prints no secret), `list` shows each member
    with role, pôles and state, `disable` ends an access; a running service is not bypassed."""
    from formservice.cli import main
    from formservice.store.tinydb.engine import TinyDBEngine

    monkeypatch.setenv("FORMSERVICE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("FORMSERVICE_NOTICE", str(notice_path))
    monkeypatch.setenv("FORMSERVICE_SMTP", f"127.0.0.1:{mailbox.port}")
    assert main(["staff", "invite", "g.sah@ac-poitiers.fr", "--role", "gestionnaire", "--pole", "sah"]) == 0
    out = capsys.readouterr().out
    assert "Invitation envoyée à g.sah@ac-poitiers.fr (gestionnaire, Pôle services" in out
    link = mailbox.link("g.sah@ac-poitiers.fr", "/gestion/invitation/")
    assert link.rsplit("/", 1)[1] not in out  # the link goes by mail only
    assert (
        main(["staff", "invite", "x@ac-poitiers.fr", "--role", "gestionnaire", "--pole", "nulle-part"]) == 1
    )
    assert "Pôle inconnu" in capsys.readouterr().err
    assert main(["staff", "list"]) == 0
    assert "g.sah@ac-poitiers.fr — gestionnaire, Pôle services" in capsys.readouterr().out
    assert main(["staff", "disable", "g.sah@ac-poitiers.fr"]) == 0
    assert main(["staff", "list"]) == 0 and "désactivé" in capsys.readouterr().out

    import anyio

    async def hold() -> int:
        engine = TinyDBEngine(tmp_path / "var" / "store")
        try:
            return main(["staff", "list"])
        finally:
            await engine.close()

    assert anyio.run(hold) == 1
    assert "espace de gestion" in capsys.readouterr().err


def _pending_mail(to: str) -> dict[str, object]:
    """An outbox record as ``Outbox.prepare`` writes it, due now."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "id": "m" * 32,
        "state": "pending",
        "to": to,
        "reply_to": None,
        "subject": "Livraison seule",
        "text": "Bonjour.",
        "html": None,
        "message_id": "<livraison@exemple.fr>",
        "created_at": now,
        "attempts": 0,
        "next_attempt_at": now,
        "last_error": None,
    }


def test_mail_deliver_sends_what_is_pending_and_stops_on_sigterm(tmp_path, notice_path, mailbox):
    """`formservice mail deliver` alone (formservice-mail.service): a pending mail reaches the
    relay, SIGTERM ends it cleanly (exit 0)."""
    import os
    import signal
    import subprocess
    import sys

    import anyio
    from account_helpers import wait_until

    from formservice.store.tinydb.engine import TinyDBEngine

    data_dir = tmp_path / "var"

    async def enqueue() -> None:
        engine = TinyDBEngine(data_dir / "store")
        try:
            await engine.insert("outbox", _pending_mail("seule@exemple.fr"))
        finally:
            await engine.close()

    anyio.run(enqueue)
    env = {
        **os.environ,
        "FORMSERVICE_DATA_DIR": str(data_dir),
        "FORMSERVICE_NOTICE": str(notice_path),
        "FORMSERVICE_SMTP": f"127.0.0.1:{mailbox.port}",
        "FORMSERVICE_ENV": "development",
    }
    with (tmp_path / "deliver.log").open("wb") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "formservice.cli", "mail", "deliver"], env=env, stdout=log, stderr=log
        )
    try:
        wait_until(lambda: bool(mailbox.to("seule@exemple.fr")), timeout=30)
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=20) == 0, (tmp_path / "deliver.log").read_text()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert mailbox.to("seule@exemple.fr")[0]["Subject"] == "Livraison seule"


def test_mail_deliver_beside_the_running_service_says_it_is_not_needed(
    monkeypatch, tmp_path, notice_path, capsys
):
    """With the embedded store, the service holds the data directory and delivers its own mails:
    the command says so and exits 3 (which formservice-mail.service does not restart on)."""
    import anyio

    from formservice.cli import main
    from formservice.store.tinydb.engine import TinyDBEngine

    monkeypatch.setenv("FORMSERVICE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("FORMSERVICE_NOTICE", str(notice_path))

    async def hold() -> int:
        engine = TinyDBEngine(tmp_path / "var" / "store")
        try:
            return main(["mail", "deliver"])
        finally:
            await engine.close()

    assert anyio.run(hold) == server.MAIL_LOCKED_EXIT
    assert "livre lui-même ses courriels" in capsys.readouterr().err


def test_serve_refuses_an_object_store_it_cannot_reach(serve_env, monkeypatch, capsys):
    """FORMSERVICE_FILES=s3://… with nothing listening at the endpoint: said before serving,
    exit 1, uvicorn never started."""
    from account_helpers import free_port

    monkeypatch.setenv("FORMSERVICE_FILES", "s3://justificatifs/poitiers")
    monkeypatch.setenv("FORMSERVICE_S3_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "cle")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-de-test")
    assert server.serve("127.0.0.1", 8000, demo=False) == 1
    assert (
        "Le stockage des justificatifs s3://justificatifs/poitiers ne répond pas" in capsys.readouterr().err
    )
    assert "options" not in serve_env
