"""The durable mail outbox: mails recorded with the change that causes them, delivered by a
worker that retries for days, never twice in parallel, and survives restarts."""

from formservice.outbox.service import DELIVERY_WINDOW, Outbox, retry_delay

__all__ = ["DELIVERY_WINDOW", "Outbox", "retry_delay"]
