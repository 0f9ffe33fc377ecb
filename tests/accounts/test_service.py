"""AccountService on its own, without the web layer: built from its dependencies like the
composition root builds it, over the reference engine and a real outbox."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from account_helpers import FAST_ARGON2, IN_WINDOW, PASSWORD, SECRET

from formservice.accounts.passwords import Hasher
from formservice.accounts.service import AccountService, Activation
from formservice.accounts.tokens import Tokens
from formservice.audit import AuditLog
from formservice.clock import FrozenClock
from formservice.mail import MailRenderer, OutboxMailer
from formservice.notice import load_notice
from formservice.outbox import Outbox
from formservice.ratelimit import Limits
from formservice.settings import Settings
from formservice.store import Store
from formservice.store.memory import MemoryEngine
from formservice.web.rendering import make_env

pytestmark = pytest.mark.anyio
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def outbox(tmp_path: Path) -> OutboxMailer:
    return OutboxMailer(tmp_path / "outbox", "ne-pas-repondre@exemple.fr", echo=False)


@pytest.fixture
def service(tmp_path: Path, outbox: OutboxMailer):
    notice = load_notice(REPO / "notice.yml")
    settings = Settings(notice_path=REPO / "notice.yml", data_dir=tmp_path, secret_keys=(SECRET,))
    clock = FrozenClock(IN_WINDOW)
    hasher = Hasher(FAST_ARGON2, 1)
    store = Store(MemoryEngine())
    renderer = MailRenderer(make_env(), lambda: {"notice": notice, "base_url": settings.base_url})
    svc = AccountService(
        store=store,
        clock=clock,
        notices=lambda: notice,
        settings=settings,
        audit=AuditLog(tmp_path / "audit.log", SECRET, clock),
        hasher=hasher,
        tokens=Tokens(settings.secret_keys, clock),
        limits=Limits(clock, settings.limits),
        mail=Outbox(store, renderer, outbox, clock),
        links=lambda name, **params: f"https://inscriptions.example/{name}/{params.get('token', '')}",
    )
    yield svc
    hasher.close()


def last_link(outbox: OutboxMailer, route: str) -> str:
    parser = BytesParser(policy=policy.default)
    for path in outbox.list():
        text = parser.parsebytes(path.read_bytes()).get_body(preferencelist=("plain",)).get_content()
        for word in text.split():
            if f"https://inscriptions.example/{route}/" in word:
                return word
    raise AssertionError(f"no {route} link mailed")


async def test_signup_then_activation_then_login(service, outbox):
    """The whole account journey runs on the service alone: a mailed link, activation, login."""
    await service.signup("camille@exemple.fr", PASSWORD, "192.0.2.1")
    token = last_link(outbox, "activate").rsplit("/", 1)[1]
    assert await service.check_activation(token) is Activation.READY
    assert await service.activate(token, "192.0.2.1") is Activation.ACTIVATED
    assert (await service.authenticate("camille@exemple.fr", PASSWORD, "192.0.2.1")).status == "ok"
    assert (
        await service.authenticate("camille@exemple.fr", "mauvais mot de passe", "192.0.2.1")
    ).status == "bad"


async def test_purge_sessions_removes_only_expired_ones(service):
    """The periodic purge asks the repository for expired sessions; live ones stay."""
    now = service.clock.now()
    store = service.store
    stamp = now.isoformat(timespec="seconds")
    old = (now - service.settings.session_absolute).isoformat(timespec="seconds")
    await store.sessions.create({"id": "vivante", "account_id": "a", "created_at": stamp, "last_seen": stamp})
    await store.sessions.create({"id": "morte", "account_id": "a", "created_at": old, "last_seen": stamp})
    assert await service.purge_sessions() == 1
    assert await store.sessions.get("vivante") is not None and await store.sessions.get("morte") is None


async def test_sixty_guesses_at_once_get_no_more_checks_than_allowed(service, outbox, monkeypatch):
    """Concurrent guesses are counted as they start: of 60 sent at once from one address, only
    the free attempts of the (account, address) pair are checked; the others wait."""
    import anyio
    import argon2

    from formservice.errors import TooManyRequests

    await service.signup("cible@exemple.fr", PASSWORD, "192.0.2.9")
    token = last_link(outbox, "activate").rsplit("/", 1)[1]
    await service.activate(token, "192.0.2.9")
    checked: list[str] = []
    original = argon2.PasswordHasher.verify

    def verify(self: argon2.PasswordHasher, hash: str, password: str) -> bool:
        checked.append(password)
        return original(self, hash, password)

    monkeypatch.setattr(argon2.PasswordHasher, "verify", verify)
    outcomes: list[str] = []

    async def guess(i: int) -> None:
        password = PASSWORD if i == 59 else f"essai numéro {i:02d} raté"
        try:
            outcomes.append((await service.authenticate("cible@exemple.fr", password, "203.0.113.7")).status)
        except TooManyRequests:
            outcomes.append("throttled")

    async with anyio.create_task_group() as tg:
        for i in range(60):
            tg.start_soon(guess, i)
    free = service.settings.limits.login_free_per_pair
    assert len(checked) == free and outcomes.count("throttled") == 60 - free
    assert "ok" not in outcomes  # the right password, sent among the guesses, was never checked
