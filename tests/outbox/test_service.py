"""The outbox: mails recorded with their change, delivered concurrently, retried for days,
never blocked by one bad mail, and still delivered after a restart."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import anyio
import pytest
from account_helpers import IN_WINDOW

from formservice.clock import FrozenClock
from formservice.mail import Mail, MailRenderer, PermanentMailError
from formservice.notice import load_notice
from formservice.outbox import DELIVERY_WINDOW, Outbox, retry_delay
from formservice.store import Store
from formservice.store.memory import MemoryEngine
from formservice.store.tinydb.engine import TinyDBEngine
from formservice.web.rendering import make_env

pytestmark = pytest.mark.anyio
REPO = Path(__file__).resolve().parents[2]
NOTICE = load_notice(REPO / "notice.yml")


class Relay:
    """A transport under the test's control: records what it is given, fails as told."""

    def __init__(self) -> None:
        self.delivered: list[Mail] = []
        self.refuse: dict[str, BaseException] = {}  # recipient -> failure
        self.hold: dict[str, anyio.Event] = {}  # recipient -> released when set

    async def send(self, mail: Mail) -> None:
        if mail.to in self.hold:
            await self.hold[mail.to].wait()
        failure = self.refuse.get(mail.to)
        if failure is not None:
            raise failure
        self.delivered.append(mail)


def outbox(store: Store, relay: Relay, clock: FrozenClock) -> Outbox:
    renderer = MailRenderer(make_env(), lambda: {"notice": NOTICE, "base_url": "http://x"}, "exemple.fr")
    return Outbox(store, renderer, relay, clock, poll_interval=0.05)


def context() -> dict:
    return {"login_link": "http://x/connexion", "reset_link": "http://x/oubli"}


async def test_a_refused_mail_does_not_delay_the_others():
    """A mail the relay holds and one it refuses for good: every other mail is delivered
    meanwhile; the refused one is marked failed at once, without retry."""
    clock, relay = FrozenClock(IN_WINDOW), Relay()
    store = Store(MemoryEngine())
    box = outbox(store, relay, clock)
    relay.hold["lent@exemple.fr"] = anyio.Event()
    relay.refuse["refuse@exemple.fr"] = PermanentMailError("550 boîte inconnue")
    async with anyio.create_task_group() as tg:
        await tg.start(box.run)
        for to in ["lent@exemple.fr", "refuse@exemple.fr", *[f"c{i}@exemple.fr" for i in range(8)]]:
            await box.send_template(to, "Sujet", "already_registered", context())
        with anyio.fail_after(5):
            while len(relay.delivered) < 8:
                await anyio.sleep(0.01)
        assert {m.to for m in relay.delivered} == {f"c{i}@exemple.fr" for i in range(8)}
        relay.hold["lent@exemple.fr"].set()
        await box.drain()
        tg.cancel_scope.cancel()
    pending, failed = await box.status()
    assert pending == [] and [m["to"] for m in failed] == ["refuse@exemple.fr"]
    assert failed[0]["attempts"] == 1 and "550" in (failed[0]["last_error"] or "")


async def test_a_relay_down_for_hours_loses_nothing():
    """Temporary failures are retried with growing delays; once the relay is back, the mail
    goes out with the Message-ID it was given at first."""
    clock, relay = FrozenClock(IN_WINDOW), Relay()
    store = Store(MemoryEngine())
    box = outbox(store, relay, clock)
    relay.refuse["x@exemple.fr"] = ConnectionRefusedError("relais arrêté")
    record = await box.send_template("x@exemple.fr", "Sujet", "already_registered", context())
    for attempt in range(1, 6):
        (pending,) = (await box.status())[0]
        assert pending["attempts"] == attempt
        clock.advance(retry_delay(attempt))
        await box.deliver_due()
    del relay.refuse["x@exemple.fr"]
    clock.advance(hours=3)
    await box.deliver_due()
    assert [m.message_id for m in relay.delivered] == [record["message_id"]]
    assert await box.status() == ([], [])


async def test_after_three_days_a_mail_is_given_up_loudly(caplog):
    """A relay down for more than the delivery window: the mail is marked failed and logged."""
    clock, relay = FrozenClock(IN_WINDOW), Relay()
    box = outbox(Store(MemoryEngine()), relay, clock)
    relay.refuse["x@exemple.fr"] = TimeoutError()
    await box.send_template("x@exemple.fr", "Relance", "already_registered", context())
    clock.advance(DELIVERY_WINDOW + timedelta(minutes=1))
    await box.deliver_due()
    assert [m["state"] for m in (await box.status())[1]] == ["failed"]
    assert "NON DÉLIVRÉ" in caplog.text and "Relance" in caplog.text


async def test_pending_mails_are_sent_after_a_restart(tmp_path):
    """Mails recorded before a stop (here: the relay was down) are delivered by the next
    process's worker, from the durable store."""
    clock, relay = FrozenClock(IN_WINDOW), Relay()
    relay.refuse["a@exemple.fr"] = ConnectionRefusedError()
    store = Store(TinyDBEngine(tmp_path / "store"))
    first = outbox(store, relay, clock)
    record = await first.send_template("a@exemple.fr", "Sujet", "already_registered", context())
    await store.close()

    relay = Relay()
    clock.advance(hours=1)
    store = Store(TinyDBEngine(tmp_path / "store"))
    second = outbox(store, relay, clock)
    async with anyio.create_task_group() as tg:
        await tg.start(second.run)
        await second.drain()
        tg.cancel_scope.cancel()
    await store.close()
    assert [m.message_id for m in relay.delivered] == [record["message_id"]]


async def test_one_recipients_mails_arrive_in_the_order_they_were_written():
    """Concurrency is between recipients: one person's activation mail is delivered before
    their reset mail, even when the first is slow."""
    clock, relay = FrozenClock(IN_WINDOW), Relay()
    store = Store(MemoryEngine())
    box = outbox(store, relay, clock)
    gate = anyio.Event()

    class SlowFirst(Relay):
        async def send(self, mail: Mail) -> None:
            if mail.subject == "premier":
                await gate.wait()
            self.delivered.append(mail)

    box.mailer = relay = SlowFirst()
    for subject in ("premier", "deuxième", "troisième"):
        record = box.prepare("meme@exemple.fr", subject, "already_registered", context())
        await store.outbox.add(record)
    await store.outbox.add(box.prepare("autre@exemple.fr", "ailleurs", "already_registered", context()))
    async with anyio.create_task_group() as tg:
        tg.start_soon(box.deliver_due)
        with anyio.fail_after(5):
            while not relay.delivered:
                await anyio.sleep(0.01)
        assert [m.subject for m in relay.delivered] == ["ailleurs"]  # the other recipient is not held up
        gate.set()
    assert [m.subject for m in relay.delivered if m.to == "meme@exemple.fr"] == [
        "premier",
        "deuxième",
        "troisième",
    ]
