"""The registration window of notice.yml, as a pure rule (no Starlette, no store).

``phase(notice, now)`` is "before" until ``registration.opens``, "open" until the instant
``registration.closes`` (excluded: at 19:00:00 it is closed), then "closed". ``now`` is aware;
the notice's local times are interpreted in its time zone, daylight-saving included.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from formservice.notice import Notice

Phase = Literal["before", "open", "closed"]


def phase(notice: Notice, now: datetime) -> Phase:
    if now < notice.opens_at:
        return "before"
    if now < notice.closes_at:
        return "open"
    return "closed"
