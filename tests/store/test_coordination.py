"""What the workers of one PostgreSQL store share (store/postgres/coordination.py), each test with
two engines on the same database, as two worker processes have: throttles counted once for
both, uploads in flight, every mail sent once (claims), one leader for the periodic jobs.
The embedded store keeps all of it in its one process (store/coordination.py, LocalCoordination)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import anyio
import pytest
from account_helpers import IN_WINDOW
from outbox.test_service import Relay, context, outbox

from formservice.clock import FrozenClock
from formservice.mail import Mail
from formservice.ratelimit import Limits, Throttles
from formservice.settings import RateLimits
from formservice.store import Store
from formservice.store.coordination import LocalCoordination
from formservice.store.memory import MemoryEngine
from formservice.store.postgres.engine import PostgresEngine

pytestmark = pytest.mark.anyio
HOUR = timedelta(hours=1)


@pytest.fixture
async def workers(pg_url: str) -> AsyncIterator[tuple[PostgresEngine, PostgresEngine]]:
    """Two engines on one database: what two worker processes hold."""
    first, second = PostgresEngine(pg_url), PostgresEngine(pg_url)
    yield first, second
    await first.close()
    await second.close()


async def test_failed_logins_on_one_worker_delay_the_other(workers) -> None:
    """Five failures counted through worker 1: the sixth attempt, on worker 2, must wait."""
    clock = FrozenClock(IN_WINDOW)
    one, two = (Limits(clock, RateLimits(), w.coordination) for w in workers)
    for _ in range(RateLimits().login_free_per_pair):
        throttles = Throttles((one.login_pair, "pair"))
        assert await throttles.reserve() == 0
        await throttles.release("failure")
    assert await Throttles((two.login_pair, "pair")).reserve() >= 1
    clock.advance(seconds=RateLimits().login_max_delay)
    assert await Throttles((two.login_pair, "pair")).reserve() == 0


async def test_sixty_guesses_at_once_across_two_workers_get_the_free_checks_only(workers) -> None:
    """60 attempts reserved at the same moment, half on each worker: exactly ``free`` go on."""
    clock = FrozenClock(IN_WINDOW)
    limits = [Limits(clock, RateLimits(), w.coordination) for w in workers]
    allowed: list[bool] = []

    async def guess(n: int) -> None:
        throttles = Throttles((limits[n % 2].login_account, "victim"))
        allowed.append(await throttles.reserve() == 0)

    async with anyio.create_task_group() as tg:
        for n in range(60):
            tg.start_soon(guess, n)
    assert sum(allowed) == RateLimits().login_free_per_account


async def test_an_exchange_is_atomic_across_workers(workers) -> None:
    """50 read-then-write exchanges of one state at once, from both workers (what the uploads
    in flight of one account do): none is lost."""
    now = IN_WINDOW

    def increment(states):
        count = (states[0] or {}).get("n", 0)
        return [{"n": count + 1}], count

    async def bump(n: int) -> None:
        await workers[n % 2].coordination.exchange(
            [("uploads_in_flight", "acc")], increment, now=now, ttl=HOUR
        )

    async with anyio.create_task_group() as tg:
        for n in range(50):
            tg.start_soon(bump, n)
    seen = await workers[0].coordination.exchange(
        [("uploads_in_flight", "acc")], increment, now=now, ttl=HOUR
    )
    assert seen == 50


async def test_a_quota_counts_the_hits_of_both_workers(workers) -> None:
    """20 signups an hour per address: 15 on each worker, 20 accepted in all."""
    clock = FrozenClock(IN_WINDOW)
    limits = [Limits(clock, RateLimits(), w.coordination) for w in workers]
    hits = [await limits[n % 2].signup_ip.hit("ip") for n in range(30)]
    assert sum(hits) == RateLimits().signup_per_ip_hour
    clock.advance(hours=1)
    assert await limits[1].signup_ip.hit("ip")
    assert await workers[0].coordination.sweep(clock.now() + timedelta(hours=2)) >= 1


class LoggingRelay(Relay):
    """A relay that also writes each mail it takes, with the worker's name, in a shared log."""

    def __init__(self, name: str, log: list[tuple[str, str, str]]):
        super().__init__()
        self.name, self.log = name, log

    async def send(self, mail: Mail) -> None:
        await anyio.sleep(0.002)  # a relay's round trip: the other worker claims meanwhile
        await super().send(mail)
        self.log.append((self.name, mail.to, mail.subject))


async def test_two_workers_deliver_every_mail_once_and_each_person_s_in_order(workers) -> None:
    """40 mails to 8 people, two outbox workers on one database: each mail sent once, both
    workers sending, and one person's mails in the order they were written."""
    clock = FrozenClock(IN_WINDOW)
    log: list[tuple[str, str, str]] = []
    boxes = [outbox(Store(w), LoggingRelay(f"w{i}", log), clock) for i, w in enumerate(workers)]
    for n in range(40):
        await boxes[0].store.outbox.add(
            boxes[0].prepare(f"p{n % 8}@exemple.fr", f"mail {n:02d}", "already_registered", context())
        )

    async def work(box) -> None:
        with anyio.fail_after(20):
            while await box.store.engine.count("outbox"):
                await box.deliver_due()
                await anyio.sleep(0.005)

    async with anyio.create_task_group() as tg:
        for box in boxes:
            tg.start_soon(work, box)
    assert sorted(subject for _, _, subject in log) == [f"mail {n:02d}" for n in range(40)]
    assert {name for name, _, _ in log} == {"w0", "w1"}, "one worker sent everything"
    for person in range(8):
        theirs = [subject for _, to, subject in log if to == f"p{person}@exemple.fr"]
        assert theirs == sorted(theirs) and len(theirs) == 5


async def test_the_claims_of_a_dead_worker_go_to_the_other_at_once(workers) -> None:
    """Worker 1 claims a mail and dies before sending it (its connections gone, as after a
    kill -9): worker 2 claims it at one of its next rounds, long before the lease ends; while
    worker 1 lived, it could not."""
    clock = FrozenClock(IN_WINDOW)
    box = outbox(Store(workers[0]), Relay(), clock)
    await box.store.outbox.add(box.prepare("seul@exemple.fr", "Sujet", "already_registered", context()))
    lease = timedelta(minutes=5)
    first = await workers[0].coordination.claim_mails(clock.now(), exclude=(), lease=lease)
    assert [m["to"] for m in first] == ["seul@exemple.fr"]
    assert await workers[1].coordination.claim_mails(clock.now(), exclude=(), lease=lease) == []
    await workers[0].close()  # its server process ends a moment later, and its locks with it
    with anyio.fail_after(5):  # far below the lease
        while not (again := await workers[1].coordination.claim_mails(clock.now(), exclude=(), lease=lease)):
            await anyio.sleep(0.05)
    assert [m["id"] for m in again] == [m["id"] for m in first]


async def test_a_claim_lapses_after_its_lease(workers) -> None:
    clock = FrozenClock(IN_WINDOW)
    box = outbox(Store(workers[0]), Relay(), clock)
    await box.store.outbox.add(box.prepare("seul@exemple.fr", "Sujet", "already_registered", context()))
    lease = timedelta(seconds=0.2)
    assert len(await workers[0].coordination.claim_mails(clock.now(), exclude=(), lease=lease)) == 1
    await anyio.sleep(0.3)
    assert len(await workers[1].coordination.claim_mails(clock.now(), exclude=(), lease=lease)) == 1


async def test_one_leader_at_a_time_and_another_takes_over_when_it_dies(workers) -> None:
    """The periodic purge: worker 1 leads, worker 2 does not; worker 1 gone, worker 2 leads."""
    first, second = workers
    assert await first.coordination.lead("purge") is True
    assert await first.coordination.lead("purge") is True  # asked again at each run
    assert await second.coordination.lead("purge") is False
    assert await second.coordination.lead("listing") is True  # each job its own leader
    await first.close()  # its server process, and its lock, end a moment later
    with anyio.fail_after(5):
        while not await second.coordination.lead("purge"):
            await anyio.sleep(0.05)


async def test_the_embedded_store_coordinates_one_process_only() -> None:
    """Memory and TinyDB: every job led here, states in this process, not shared."""
    engine = MemoryEngine()
    coordination = Store(engine).coordination
    assert isinstance(coordination, LocalCoordination) and not coordination.shared
    assert await coordination.lead("purge")
