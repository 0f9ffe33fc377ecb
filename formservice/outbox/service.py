"""The outbox: a mail exists exactly when the change that causes it does.

A use case builds its mails with ``outbox.prepare(...)`` and hands them to the repository write
that makes the change (``store.enrolments.update(id, fn, mails=...)``): the engine records both
in one atomic step. ``outbox.send_template(...)`` records a mail on its own (a mail that is the
whole action, such as « vous avez déjà un compte »). Either way ``wake()`` tells the worker.

The worker (``run``, started by the app's lifespan of every worker process) claims due mails
(``store.coordination``: with PostgreSQL, ``FOR UPDATE SKIP LOCKED`` under a lock, so two
workers never take the same mail) and delivers them, ``concurrency`` at a time,
so that one slow or refused mail never delays another; a delivered mail is deleted; a temporary
failure is retried with growing delays (``retry_delay``) for ``DELIVERY_WINDOW`` (3 days), then
marked ``failed`` and logged loudly; a permanent one (5xx, an unencodable header) is marked
``failed`` at once. After a crash, the mails still pending are sent again with the same
Message-ID: delivery is at least once, and a reader's client shows a duplicate as one mail.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any, cast

import anyio
import anyio.abc

from formservice.clock import Clock, from_iso, to_iso
from formservice.mail import Mail, Mailer, MailRenderer, is_permanent
from formservice.store import RecordMissing, Store
from formservice.store.records import OutboxMail

log = logging.getLogger("formservice.mail")

DELIVERY_WINDOW = timedelta(days=3)
RETRY_DELAYS = (30, 60, 120, 300, 600, 1800)  # seconds; then every hour until the window ends


def retry_delay(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed try."""
    index = max(0, attempts - 1)
    return timedelta(seconds=RETRY_DELAYS[index] if index < len(RETRY_DELAYS) else 3600)


class Outbox:
    def __init__(
        self,
        store: Store,
        renderer: MailRenderer,
        mailer: Mailer,
        clock: Clock,
        *,
        concurrency: int = 4,
        send_timeout: float = 60.0,
        poll_interval: float = 5.0,
    ):
        self.store = store
        self.renderer = renderer
        self.mailer = mailer
        self.clock = clock
        self.concurrency = concurrency
        self.send_timeout = send_timeout
        self.poll_interval = poll_interval
        self._wakeup: anyio.Event | None = None
        self._running = False
        self._in_progress: set[str] = set()  # being sent by this process
        # A mail claimed and not settled within this (the process died) goes to another one.
        self.lease = timedelta(seconds=2 * send_timeout + 60)
        # Sent, but the store refused to record it (disk full): never sent again by this process;
        # its deletion is retried at each round.
        self._sent_unrecorded: set[str] = set()
        self.sent = 0
        self.failed = 0

    # -- recording ------------------------------------------------------------------------------
    def prepare(
        self, to: str, subject: str, template: str, context: dict[str, Any], *, reply_to: str | None = None
    ) -> OutboxMail:
        """Render a mail now (a template error surfaces in the request) as an outbox record, to
        give to the repository write that makes the change."""
        mail = self.renderer.render(to, subject, template, context, reply_to=reply_to)
        now = to_iso(self.clock.now())
        return {
            "id": secrets.token_hex(16),
            "state": "pending",
            "to": mail.to,
            "reply_to": mail.reply_to,
            "subject": mail.subject,
            "text": mail.text,
            "html": mail.html,
            "message_id": mail.message_id,
            "created_at": now,
            "attempts": 0,
            "next_attempt_at": now,
            "last_error": None,
        }

    async def send_template(
        self, to: str, subject: str, template: str, context: dict[str, Any], *, reply_to: str | None = None
    ) -> OutboxMail:
        """Record a mail that is a whole action by itself, and wake the worker."""
        record = self.prepare(to, subject, template, context, reply_to=reply_to)
        await self.store.outbox.add(record)
        await self.wake()
        return record

    async def wake(self) -> None:
        """Tell the worker there is something to send; without a worker (a command, a unit
        test), send what is due now, in the caller's task."""
        if self._running and self._wakeup is not None:
            self._wakeup.set()
        elif not self._running:
            await self.deliver_due()

    # -- delivering -----------------------------------------------------------------------------
    async def run(self, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """The worker, started by the lifespan's task group: delivers what is due (what a crash
        left pending first), then waits to be woken, or ``poll_interval`` at most."""
        self._running = True
        self._wakeup = anyio.Event()
        task_status.started()
        try:
            while True:
                try:
                    await self.deliver_due()
                except Exception:  # the store is unavailable: try again at the next round
                    log.exception("courriels : lecture de la file impossible, nouvel essai bientôt")
                with anyio.move_on_after(self.poll_interval):
                    await self._wakeup.wait()
                self._wakeup = anyio.Event()
        finally:
            self._running = False

    async def deliver_due(self) -> int:
        """Send every due mail not already being sent, ``concurrency`` at a time, in rounds: a
        round takes the oldest due mail of each recipient, so that one person's mails arrive in
        the order they were written (activation before reset); returns how many were tried."""
        tried = 0
        await self._record_sent_ones()
        while True:
            claimed = await self.store.coordination.claim_mails(
                self.clock.now(), exclude=self._sent_unrecorded, lease=self.lease
            )
            batch = cast(list[OutboxMail], claimed)
            if not batch:
                return tried
            limiter = anyio.CapacityLimiter(self.concurrency)
            async with anyio.create_task_group() as tg:
                for record in batch:
                    self._in_progress.add(record["id"])
                    tg.start_soon(self._deliver_one, record, limiter)
            tried += len(batch)

    async def _deliver_one(self, record: OutboxMail, limiter: anyio.CapacityLimiter) -> None:
        try:
            async with limiter:
                error: BaseException | None = None
                try:
                    with anyio.fail_after(self.send_timeout):
                        await self.mailer.send(_mail_of(record))
                except Exception as exc:
                    error = exc
                try:
                    await self._settle(record, error)
                except Exception:  # the store refuses writes: this mail must not go out again
                    if error is None:
                        self._sent_unrecorded.add(record["id"])
                    log.exception(
                        "courriel « %s » : état non enregistré (stockage indisponible)", record["subject"]
                    )
        finally:
            self._in_progress.discard(record["id"])
            if record["id"] not in self._sent_unrecorded:  # else kept claimed: nobody sends it again
                with anyio.CancelScope(shield=True):
                    await self._release(record["id"])

    async def _release(self, mail_id: str) -> None:
        """End the claim (a claim that cannot be released lapses after ``lease``)."""
        try:
            await self.store.coordination.release_mail(mail_id)
        except Exception:
            log.warning(
                "courriel %s : fin de prise en charge non enregistrée (stockage indisponible)", mail_id
            )

    async def _record_sent_ones(self) -> None:
        """Retry deleting the mails delivered while the store refused writes."""
        for mail_id in list(self._sent_unrecorded):
            try:
                await self.store.outbox.delete(mail_id)
            except Exception:
                return  # still refused: next round
            self._sent_unrecorded.discard(mail_id)
            await self._release(mail_id)

    async def _settle(self, record: OutboxMail, error: BaseException | None) -> None:
        if error is None:
            await self.store.outbox.delete(record["id"])
            self.sent += 1
            return
        now = self.clock.now()
        attempts = record["attempts"] + 1
        expired = now - from_iso(record["created_at"]) >= DELIVERY_WINDOW
        detail = f"{type(error).__name__}: {error}"[:500]
        if is_permanent(error) or expired:
            self.failed += 1
            log.error(
                "courriel « %s » NON DÉLIVRÉ après %d essai(s) (%s) : %s",
                record["subject"],
                attempts,
                "refus définitif" if is_permanent(error) else "délai de 3 jours dépassé",
                detail,
            )
            change: dict[str, Any] = {"state": "failed", "attempts": attempts, "last_error": detail}
        else:
            wait = retry_delay(attempts)
            log.warning("courriel « %s » : échec (%s), nouvel essai dans %s", record["subject"], detail, wait)
            change = {
                "attempts": attempts,
                "last_error": detail,
                "next_attempt_at": to_iso(now + wait),
            }
        await self.store.outbox.update(record["id"], lambda doc: {**doc, **change})  # type: ignore[typeddict-item]

    async def drain(self, *, timeout: float = 30.0) -> None:
        """Wait until no mail is due or being sent (tests, shutdown); mails waiting for a later
        retry are not waited for."""
        with anyio.move_on_after(timeout):
            while True:
                if not self._running:
                    await self.deliver_due()
                due = [
                    m
                    for m in await self.store.outbox.due(self.clock.now())
                    if m["id"] not in self._sent_unrecorded
                ]
                if not due and not self._in_progress:
                    return
                await self.wake()
                await anyio.sleep(0.01)

    async def status(self) -> tuple[list[OutboxMail], list[OutboxMail]]:
        """(pending, failed), for ``formservice mail status`` and the back office."""
        return await self.store.outbox.with_state("pending"), await self.store.outbox.with_state("failed")

    async def retry(self, mail_id: str) -> bool:
        """A failed mail sent again (an operator fixed the relay or the address): pending, due
        now, with a fresh delivery window; False if it is not a failed mail (any more)."""
        now = to_iso(self.clock.now())

        def again(doc: OutboxMail) -> OutboxMail:
            if doc["state"] != "failed":
                raise _NotFailed()
            return {**doc, "state": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now}

        try:
            await self.store.outbox.update(mail_id, again)
        except (_NotFailed, RecordMissing):
            return False
        await self.wake()
        return True

    async def discard(self, mail_id: str) -> bool:
        """A failed mail given up for good (deleted); False if it is not a failed mail."""
        return await self.store.outbox.delete_if(mail_id, lambda doc: doc["state"] == "failed")

    def close(self) -> None:
        close: Callable[[], None] | None = getattr(self.mailer, "close", None)
        if close is not None:
            close()


class _NotFailed(Exception):
    """``retry`` of a mail that is not failed: nothing written."""


def _mail_of(record: OutboxMail) -> Mail:
    return Mail(
        to=record["to"],
        subject=record["subject"],
        text=record["text"],
        html=record["html"],
        message_id=record["message_id"],
        reply_to=record["reply_to"],
    )


__all__ = ["DELIVERY_WINDOW", "Outbox", "retry_delay"]
