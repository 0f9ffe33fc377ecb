"""Account use cases over the store: expiry and purge on the clock, races, throttles, rehash."""

from __future__ import annotations

from datetime import timedelta

import anyio
import pytest
from account_helpers import PASSWORD, log_in, make_client, sign_up

from formservice.accounts.passwords import Hasher
from formservice.accounts.rules import ACTIVE, PENDING
from formservice.accounts.service import Activation
from formservice.errors import TooManyRequests
from formservice.settings import Argon2Params
from formservice.store.memory import MemoryEngine
from formservice.store.postgres.engine import PostgresEngine
from formservice.web.app import create_app

pytestmark = pytest.mark.anyio


async def pending_account(app, client, email="attente@exemple.fr"):
    await sign_up(client, app, email)
    return await app.state.services.store.accounts.by_email(email)


async def test_purge_at_47h59_keeps_and_at_48h01_deletes(client, app, clock):
    """An account not activated is kept at 47 h 59 and deleted by the purge at 48 h 01; the e-mail is free."""
    svc = app.state.services
    account = await pending_account(app, client)
    clock.advance(hours=47, minutes=59)
    assert await svc.accounts.purge_expired() == []
    assert await svc.store.accounts.get(account["id"]) is not None
    clock.advance(minutes=2)
    assert [a["id"] for a in await svc.accounts.purge_expired(dry_run=True)] == [account["id"]]
    assert await svc.store.accounts.get(account["id"]) is not None  # dry run deleted nothing
    deleted = await svc.accounts.purge_expired()
    assert [a["id"] for a in deleted] == [account["id"]]
    assert await svc.store.accounts.by_email("attente@exemple.fr") is None
    log = (svc.settings.data_dir / "audit.log").read_text()
    assert '"event": "account.purged"' in log


async def test_activation_at_47h59_succeeds_and_is_never_purged(client, app, clock, mailbox):
    """Activated at 47 h 59, the account survives every later purge."""
    from account_helpers import activate_from_mail

    await pending_account(app, client)
    clock.advance(hours=47, minutes=59)
    assert "Votre compte est activé" in (await activate_from_mail(client, mailbox, "attente@exemple.fr")).text
    clock.advance(days=400)
    assert await app.state.services.accounts.purge_expired() == []
    account = await app.state.services.store.accounts.by_email("attente@exemple.fr")
    assert account["status"] == ACTIVE


async def test_purge_racing_an_activation_is_safe(client, app, clock, mailbox, monkeypatch):
    """If the purge deletes between the activation's check and its write, activation answers « expiré »."""
    svc = app.state.services
    await pending_account(app, client)
    token = mailbox.link("attente@exemple.fr", "/compte/activer/").rsplit("/", 1)[1]
    clock.advance(hours=47, minutes=59, seconds=59)
    real_update = svc.store.accounts.update

    async def purge_first(account_id, fn):
        clock.advance(seconds=2)  # the deadline passes while the activation is in flight
        assert len(await svc.accounts.purge_expired()) == 1
        return await real_update(account_id, fn)

    monkeypatch.setattr(svc.store.accounts, "update", purge_first)
    assert await svc.accounts.activate(token, "127.0.0.1") is Activation.EXPIRED
    assert await svc.store.accounts.count() == 0


async def test_activation_winning_the_race_keeps_the_account(client, app, clock, mailbox, monkeypatch):
    """If the activation writes first, the purge's predicate (checked under the lock) spares it."""
    svc = app.state.services
    account = await pending_account(app, client)
    token = mailbox.link("attente@exemple.fr", "/compte/activer/").rsplit("/", 1)[1]
    clock.advance(hours=47, minutes=59)
    real_delete_if = svc.store.accounts.delete_if

    async def activate_first(account_id, predicate):
        monkeypatch.setattr(svc.store.accounts, "delete_if", real_delete_if)
        clock.advance(minutes=-2)  # the activation was checked and written just before the deadline
        assert await svc.accounts.activate(token, "127.0.0.1") is Activation.ACTIVATED
        clock.advance(minutes=2)
        return await real_delete_if(account_id, predicate)

    stale = [account]  # what the purge listed before the activation
    monkeypatch.setattr(svc.store.accounts, "delete_if", activate_first)
    monkeypatch.setattr(svc.store.accounts, "with_status", lambda status: _async(stale))
    clock.advance(minutes=2)
    assert await svc.accounts.purge_expired() == []
    assert (await svc.store.accounts.get(account["id"]))["status"] == ACTIVE


async def _async(value):
    return value


@pytest.fixture(params=["memory", "tinydb", "postgres"])
async def any_app(request, settings, clock, tmp_path):
    """The app over each store engine (the durable one when it is importable)."""
    if request.param == "memory":
        engine = MemoryEngine()
    elif request.param == "postgres":
        engine = PostgresEngine(request.getfixturevalue("pg_url"))
    else:
        factory = pytest.importorskip("formservice.store.factory")
        engine = factory.open_engine(f"tinydb:{tmp_path / 'store-data' / 'store'}")
    application = create_app(settings, engine=engine, clock=clock)
    async with application.router.lifespan_context(application):
        yield application


async def test_twenty_concurrent_signups_with_one_email_give_one_account(any_app, settings, mailbox):
    """20 signups of one address at once (20 visitors) create exactly one account, on every engine."""
    app = any_app
    results = []

    async def one(i: int) -> None:
        async with make_client(app, settings, ip=f"10.0.0.{i}") as c:
            results.append((await sign_up(c, app, "meme@exemple.fr")).status_code)

    async with anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon(one, i)
    assert results == [200] * 20
    assert await app.state.services.store.accounts.count() == 1
    await app.state.services.mail.drain()
    assert 1 <= len(mailbox.to("meme@exemple.fr")) <= settings.limits.mails_per_address_hour


async def test_signup_of_an_active_address_mails_its_owner(client, app, mailbox, candidate):
    """A signup with an active account's address mails « vous avez déjà un compte » and both links."""
    mailbox.clear()
    await sign_up(client, app, candidate.email, "une autre phrase de passe")
    (mail,) = mailbox.to(candidate.email)
    assert "déjà un compte" in mail["Subject"]
    assert {"/compte/connexion", "/compte/mot-de-passe-oublie"} <= {
        link.removeprefix("http://testserver") for link in mailbox.links(mail)
    }
    # the password did not change
    assert (await log_in(client, candidate.email)).status_code == 303


async def test_mails_per_address_are_capped(client, app, mailbox, settings):
    """Repeated signups and resends never send more than the hourly cap to one address."""
    for _ in range(3):
        await sign_up(client, app, "spam@exemple.fr")
    for _ in range(6):
        await client.submit("/compte/renvoyer-activation", {"email": "spam@exemple.fr"})
    await app.state.services.mail.drain()
    assert len(mailbox.to("spam@exemple.fr")) == settings.limits.mails_per_address_hour


async def test_login_throttle_grows_but_never_locks_out(client, app, candidate, clock, settings):
    """After the free failures, growing delays (429, Retry-After), capped: the owner still gets in."""
    limits = settings.limits
    statuses = []
    for _ in range(limits.login_free_per_pair + 3):
        statuses.append((await log_in(client, candidate.email, "mauvais mot de passe !")).status_code)
    assert statuses[: limits.login_free_per_pair] == [400] * limits.login_free_per_pair
    assert 429 in statuses
    throttled = await log_in(client, candidate.email)
    assert throttled.status_code == 429 and "Réessayez dans" in throttled.text
    assert int(throttled.headers["retry-after"]) <= limits.login_max_delay
    clock.advance(seconds=limits.login_max_delay)
    assert (await log_in(client, candidate.email)).status_code == 303


async def test_throttle_does_not_tell_whether_an_account_exists(client, candidate, settings):
    """Unknown and known addresses are throttled after the same number of failures."""
    known, unknown = [], []
    for _ in range(settings.limits.login_free_per_pair + 1):
        known.append((await log_in(client, candidate.email, "mauvais mot de passe !")).status_code)
        unknown.append((await log_in(client, "personne@exemple.fr", "mauvais mot de passe !")).status_code)
    assert known == unknown


async def test_login_rehashes_when_parameters_changed(client, app, candidate):
    """A hash made with older parameters is replaced at the next successful login."""
    svc = app.state.services
    old_hash = (await svc.store.accounts.get(candidate.account_id))["password_hash"]
    svc.accounts.hasher = Hasher(Argon2Params(time_cost=2, memory_cost=2048, parallelism=1))
    assert (await log_in(client, candidate.email)).status_code == 303
    new_hash = (await svc.store.accounts.get(candidate.account_id))["password_hash"]
    assert new_hash != old_hash and "$m=2048,t=2,p=1$" in new_hash
    assert await svc.hasher.verify(new_hash, PASSWORD)


async def test_signup_throttle_per_ip(client, app, settings):
    """More signups than the hourly cap from one IP answer 429; the accounts created stay under it."""
    svc = app.state.services
    with pytest.raises(TooManyRequests):
        for i in range(settings.limits.signup_per_ip_hour + 1):
            await svc.accounts.signup(f"c{i}@exemple.fr", PASSWORD, "192.0.2.1")
    assert await svc.store.accounts.count() == settings.limits.signup_per_ip_hour
    assert (await svc.store.accounts.by_email("c0@exemple.fr"))["status"] == PENDING


async def test_expired_pending_account_is_replaced_at_signup(client, app, clock):
    """Signing up again after the delay replaces the expired pending account by a new one."""
    first = await pending_account(app, client, "retour@exemple.fr")
    clock.advance(timedelta(hours=49))
    await sign_up(client, app, "retour@exemple.fr")
    second = await app.state.services.store.accounts.by_email("retour@exemple.fr")
    assert second["id"] != first["id"] and second["status"] == PENDING


@pytest.mark.parametrize("path", ["/compte/renvoyer-activation", "/compte/mot-de-passe-oublie"])
async def test_resend_and_reset_are_throttled_per_ip(client, settings, path):
    """Past the hourly cap from one IP, resend and reset answer 429 whatever the address."""
    statuses = []
    for i in range(settings.limits.resend_per_ip_hour + 1):
        statuses.append((await client.submit(path, {"email": f"x{i}@exemple.fr"})).status_code)
    assert statuses[:-1] == [200] * settings.limits.resend_per_ip_hour and statuses[-1] == 429
