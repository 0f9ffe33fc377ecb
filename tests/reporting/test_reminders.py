"""Reminders with a fake clock over the durable store: exactly one mail per candidate and occasion,
across restarts; none to a candidate who completed meanwhile; each says what is missing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from review.dossiers import IN_WINDOW, NOTICE, deposited, in_state, saved

from formservice.accounts.rules import ACTIVE
from formservice.clock import FrozenClock
from formservice.enrolment import rules as erules
from formservice.review.states import State
from reporting.world import World

pytestmark = pytest.mark.anyio
CLOSES = NOTICE.closes_at.astimezone(UTC)
WEEK_BEFORE = CLOSES - timedelta(days=7) + timedelta(hours=1)
TWO_DAYS_BEFORE = CLOSES - timedelta(days=2) + timedelta(hours=1)


@pytest.fixture
async def world(settings, mailbox):
    w = World(settings, FrozenClock(WEEK_BEFORE))
    await w.open()
    yield w
    await w.close()


def short_of_a_piece():
    doc = saved()
    return erules.remove_file(doc, doc["files"][0]["id"], NOTICE, IN_WINDOW)


async def test_one_mail_per_candidate_and_occasion_across_restarts(world, mailbox):
    """A week before the closing: the candidate with no enrolment, the one short of a piece and
    the one who did not click each get one mail saying what is missing; the déposé one none; a
    restart sends nothing again. Two days before: again once each, but not to one who completed."""
    await world.candidate("rien")
    await world.candidate("manque", short_of_a_piece())
    await world.candidate("clic", saved())
    await world.candidate("fini", deposited())
    outcome = await world.svc.reminders.run()
    assert sorted(r.to for r in outcome.reminders) == [
        "clic@exemple.fr",
        "manque@exemple.fr",
        "rien@exemple.fr",
    ]
    first_piece = erules.required_documents(NOTICE, saved()["data"])[0].name
    assert "M'inscrire" in mailbox.text(mailbox.to("rien@exemple.fr")[0])
    assert first_piece in mailbox.text(mailbox.to("manque@exemple.fr")[0])
    assert "J'ai fourni toutes mes pièces" in mailbox.text(mailbox.to("clic@exemple.fr")[0])
    assert not mailbox.to("fini@exemple.fr")

    svc = await world.restart()
    assert (await svc.reminders.run()).reminders == []
    world.clock.set(TWO_DAYS_BEFORE)
    svc = await world.restart()
    await svc.store.enrolments.update("d-clic", lambda d: erules.complete(d, NOTICE, TWO_DAYS_BEFORE))
    assert sorted(r.to for r in (await svc.reminders.run()).reminders) == [
        "manque@exemple.fr",
        "rien@exemple.fr",
    ]
    svc = await world.restart()
    assert (await svc.reminders.run()).reminders == []
    counts = {name: len(mailbox.to(f"{name}@exemple.fr")) for name in ("rien", "manque", "clic", "fini")}
    assert counts == {"rien": 2, "manque": 2, "clic": 1, "fini": 0}


async def test_a_dry_run_lists_and_sends_nothing(world, mailbox):
    """``--dry-run``: who would get what, nothing sent, nothing recorded (the real run then sends)."""
    await world.candidate("rien")
    dry = await world.svc.reminders.run(dry_run=True)
    assert [(r.to, r.what) for r in dry.reminders] == [
        ("rien@exemple.fr", "enregistrer votre inscription dans « M'inscrire »")
    ]
    assert not mailbox.to("rien@exemple.fr")
    assert len((await world.svc.reminders.run()).reminders) == 1


async def test_correction_and_activation_reminders(world, mailbox):
    """Three days before a correction deadline, the incomplet candidate is told the pieces still
    refused, once; 24 hours before its purge, a pending account gets a fresh activation link,
    once, and not if it was activated meanwhile."""
    doc = in_state(State.INCOMPLET)
    deadline = datetime.fromisoformat(doc["review"]["corrections"][-1]["deadline"])
    world.clock.set(deadline - timedelta(days=3) + timedelta(hours=2))
    await world.candidate("corrige", doc)
    await world.candidate("pendant", status="pending", created=world.clock.now() - timedelta(hours=25))
    await world.candidate("active", status="pending", created=world.clock.now() - timedelta(hours=25))
    await world.svc.store.accounts.update(
        "active".ljust(32, "0"), lambda a: a | {"status": ACTIVE, "activated_at": a["created_at"]}
    )
    outcome = await world.svc.reminders.run()
    assert sorted(r.to for r in outcome.reminders) == ["corrige@exemple.fr", "pendant@exemple.fr"]
    refused = next(d for d in NOTICE.documents if d.id == doc["review"]["corrections"][-1]["pieces"][0])
    assert refused.name in mailbox.text(mailbox.to("corrige@exemple.fr")[0])
    link = mailbox.link("pendant@exemple.fr", "/compte/activer/")
    svc = await world.restart()
    assert (await svc.reminders.run()).reminders == []
    assert len(mailbox.to("pendant@exemple.fr")) == len(mailbox.to("corrige@exemple.fr")) == 1
    assert not mailbox.to("active@exemple.fr")
    assert (await svc.accounts.check_activation(link.rsplit("/", 1)[1])).value == "ready"


async def test_a_candidate_who_completes_during_the_pass_gets_nothing(world, mailbox, monkeypatch):
    """The dossier was read before the candidate clicked « J'ai fourni toutes mes pièces »: the
    check made again inside the write sees the click, and neither mails nor records anything."""
    await world.candidate("clic", saved())
    store = world.svc.store
    before = await store.enrolments.get("d-clic")
    await store.enrolments.update("d-clic", lambda d: erules.complete(d, NOTICE, WEEK_BEFORE))

    async def read_before_the_click(key: str):
        return before

    monkeypatch.setattr(store.enrolments, "get_by_key", read_before_the_click)
    assert (await world.svc.reminders.run()).reminders == []
    assert not mailbox.to("clic@exemple.fr")
    assert "reminders" not in await store.enrolments.get("d-clic")
