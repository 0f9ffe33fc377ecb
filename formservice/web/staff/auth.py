"""Who is logged in on the staff side: the staff session behind its own cookie.

A candidate's session gives nothing here; the staff session ends after 30 minutes idle or 10 hours,
and at once when the member is disabled (``StaffService.resume_session``)."""

from __future__ import annotations

from starlette.requests import Request

from formservice.errors import NotFound
from formservice.notice import Notice
from formservice.review.records import Enrolment
from formservice.review.rules import pole_of_enrolment
from formservice.staff.records import Staff
from formservice.staff.rules import may_see_pole, visible_poles
from formservice.web.errors import LoginRequired
from formservice.web.middleware.sessions import STAFF_SCOPE_KEY, new_sid, session_key, state_of
from formservice.web.services import services

STAFF_KEY = "formservice.staff"


async def current_staff(request: Request) -> Staff | None:
    """The logged-in, active staff member, or None (a dead session's cookie is deleted)."""
    if STAFF_KEY in request.scope:
        cached: Staff | None = request.scope[STAFF_KEY]
        return cached
    state = state_of(request.scope, STAFF_SCOPE_KEY)
    staff = None
    if state.sid is not None:
        staff = await services(request).staff.resume_session(session_key(state.sid))
        if staff is None:
            state.sid, state.cookie_out = None, ""
    request.scope[STAFF_KEY] = staff
    return staff


async def require_staff(request: Request) -> Staff:
    staff = await current_staff(request)
    if staff is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(request.app.url_path_for("staff_login"), target)
    return staff


async def open_session(request: Request, staff: Staff) -> None:
    """A fresh staff session (the id changes at every login: no fixation)."""
    state = state_of(request.scope, STAFF_SCOPE_KEY)
    if state.sid is not None:
        await services(request).staff.end_session(session_key(state.sid))
    sid = new_sid()
    await services(request).staff.open_session(staff, session_key(sid))
    state.sid, state.cookie_out = sid, sid
    request.scope[STAFF_KEY] = staff


async def close_session(request: Request) -> None:
    state = state_of(request.scope, STAFF_SCOPE_KEY)
    if state.sid is not None:
        await services(request).staff.end_session(session_key(state.sid))
    state.sid, state.cookie_out = None, ""
    request.scope.pop(STAFF_KEY, None)


def poles_of(staff: Staff, notice: Notice) -> list[str]:
    """The pôle ids this member may see, in the notice's order."""
    return visible_poles(staff, [p.id for p in notice.poles])


def ensure_visible(staff: Staff, notice: Notice, dossier: Enrolment | None) -> Enrolment:
    """The dossier, or 404 if it does not exist or belongs to a pôle this member cannot see
    (the same answer: nothing tells another pôle's dossier from a missing one)."""
    pole = pole_of_enrolment(notice, dossier) if dossier is not None else None
    if dossier is None or pole is None or not may_see_pole(staff, pole.id):
        raise NotFound()
    return dossier
