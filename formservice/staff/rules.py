"""Staff rules, as plain functions over plain data (no Starlette, no store, no Jinja).

A staff member is a dict as stored (``store.records.Staff``)::

    {"id", "email", "role": "gestionnaire" | "administrateur", "poles": [pôle ids],
     "status": "invited" | "active" | "disabled", "password_hash", "totp_secret",
     "totp_last_step", "recovery_codes": [{"hash", "used_at"}], "invited_at", "invited_by",
     "activated_at", "disabled_at", "disabled_by", "created_at"}

- A **gestionnaire** belongs to one or more pôles of the notice and sees only their dossiers; an
  **administrateur** has no pôle of their own: they see every pôle and manage the staff.
- A member is **invited** (by an administrateur, or from the command line): the invitation link
  is valid 72 h and works once (the token carries ``invitation_fingerprint``, which changes as
  soon as the invitation is used, renewed or the member disabled). Using it sets the password
  (the candidates' policy) and the TOTP secret, and makes the member **active**.
- Login is two steps: the password, then a TOTP code or a recovery code. Each code is accepted
  once: the last accepted time step is stored, and a code of that step or an older one is
  refused; a recovery code is marked used. The check is made inside the store's atomic update
  (the mutators below), so two requests racing with one code cannot both pass.
- A **disabled** member can do nothing any more; their sessions are deleted. There is no way
  back but a new account (a disabled address stays taken, for the history).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from formservice.accounts import rules as account_rules
from formservice.clock import from_iso, to_iso
from formservice.errors import BadRequest, Conflict, Forbidden, NotFound
from formservice.staff.records import RecoveryCode, Staff, StaffSession

GESTIONNAIRE = "gestionnaire"
ADMINISTRATEUR = "administrateur"
ROLES = (GESTIONNAIRE, ADMINISTRATEUR)

INVITED = "invited"
ACTIVE = "active"
DISABLED = "disabled"
STATUS_LABELS = {INVITED: "invité", ACTIVE: "actif", DISABLED: "désactivé"}

INVITATION_VALIDITY = timedelta(hours=72)
SECOND_FACTOR_MAX_AGE = timedelta(minutes=5)  # between the password and the code
SESSION_IDLE = timedelta(minutes=30)
SESSION_ABSOLUTE = timedelta(hours=10)

StaffMutator = Callable[[Staff], Staff]


# -- refusals a user reads (French, rendered once by the web layer or printed by the command) --
class UnknownRole(BadRequest):
    def __init__(self, role: str):
        super().__init__(f"Rôle inconnu : « {role} » ; rôles possibles : {', '.join(ROLES)}.")


class UnknownPole(BadRequest):
    def __init__(self, unknown: Sequence[str], known: Sequence[str]):
        super().__init__(
            f"Pôle inconnu : {', '.join(unknown)} ; pôles de la note : {', '.join(known) or 'aucun'}."
        )


class PolesRequired(BadRequest):
    message = (
        "Un gestionnaire est rattaché à au moins un pôle : indiquez le ou les pôles dont il traite "
        "les dossiers."
    )


class AdministrateurWithoutPoles(BadRequest):
    message = (
        "Un administrateur voit les dossiers de tous les pôles : ne lui indiquez aucun pôle "
        "(ou invitez-le comme gestionnaire)."
    )


class AlreadyStaff(Conflict):
    message = "Cette adresse a déjà un compte de gestion."


class InvitationPending(Conflict):
    def __init__(self, deadline_text: str):
        super().__init__(
            "Une invitation est déjà en cours pour cette adresse (valable jusqu'au "
            f"{deadline_text}) : une nouvelle ne peut être envoyée qu'après son expiration."
        )


class StaffNotFound(NotFound):
    title = "Compte introuvable"
    message = "Aucun compte de gestion n'a cette adresse électronique."


class AdministrateurRequired(Forbidden):
    message = "Seul un administrateur actif peut inviter ou désactiver un membre du service."


class CannotDisableSelf(Conflict):
    message = "Vous ne pouvez pas désactiver votre propre compte : demandez-le à un autre administrateur."


class StaffNotActive(Forbidden):
    message = "Ce compte de gestion n'est pas actif : demandez à un administrateur."


class PasswordRefused(BadRequest):
    """The message is the candidates' policy's reason."""


# -- refusals raised inside the store's atomic update (nothing is written) ----------------------
class Refused(Exception):
    """Base of the mutators' refusals."""


class InvitationUsed(Refused):
    pass


class InvitationExpired(Refused):
    pass


class InvitationReplaced(Refused):
    """Renewed or cancelled (disabled) since the link was made."""


class NotActive(Refused):
    pass


class TicketUsed(Refused):
    """Another second step succeeded since this login's password step."""


class CodeAlreadyUsed(Refused):
    pass


class RecoveryCodeRefused(Refused):
    pass


class AlreadyDisabled(Refused):
    pass


# -- roles and pôles -------------------------------------------------------------------------------
def check_assignment(role: str, poles: Sequence[str], known_poles: Sequence[str]) -> list[str]:
    """The pôles to store for ``role``, deduplicated in the given order; refuses an unknown role
    or pôle, a gestionnaire without pôle, an administrateur with pôles."""
    if role not in ROLES:
        raise UnknownRole(role)
    wanted = list(dict.fromkeys(p.strip() for p in poles if p.strip()))
    unknown = [p for p in wanted if p not in known_poles]
    if unknown:
        raise UnknownPole(unknown, known_poles)
    if role == GESTIONNAIRE and not wanted:
        raise PolesRequired()
    if role == ADMINISTRATEUR and wanted:
        raise AdministrateurWithoutPoles()
    return wanted


def is_active(staff: Staff | None) -> bool:
    return staff is not None and staff.get("status") == ACTIVE


def is_admin(staff: Staff | None) -> bool:
    """An active administrateur."""
    return is_active(staff) and staff is not None and staff["role"] == ADMINISTRATEUR


def may_see_pole(staff: Staff | None, pole_id: str) -> bool:
    """Whether an active member may see the dossiers of ``pole_id``: an administrateur every
    pôle, a gestionnaire those they belong to. A member not active sees nothing."""
    if not is_active(staff) or staff is None:
        return False
    return staff["role"] == ADMINISTRATEUR or pole_id in staff["poles"]


def visible_poles(staff: Staff | None, all_poles: Sequence[str]) -> list[str]:
    """The pôles of ``all_poles`` (the notice's, in its order) that ``staff`` may see."""
    return [p for p in all_poles if may_see_pole(staff, p)]


# -- invitation ------------------------------------------------------------------------------------
def new_invited(
    staff_id: str, email: str, role: str, poles: Sequence[str], by: str | None, now: datetime
) -> Staff:
    """An invited member; ``email`` normalised, ``role`` and ``poles`` checked (check_assignment)."""
    stamp = to_iso(now)
    return {
        "id": staff_id,
        "email": email,
        "role": role,
        "poles": list(poles),
        "status": INVITED,
        "password_hash": None,
        "totp_secret": None,
        "totp_last_step": 0,
        "recovery_codes": [],
        "invited_at": stamp,
        "invited_by": by,
        "activated_at": None,
        "disabled_at": None,
        "disabled_by": None,
        "created_at": stamp,
    }


def invitation_deadline(staff: Staff) -> datetime:
    return from_iso(staff["invited_at"]) + INVITATION_VALIDITY


def invitation_expired(staff: Staff, now: datetime) -> bool:
    """An invitation not used within 72 h (at the deadline itself, it is over)."""
    return staff["status"] == INVITED and now >= invitation_deadline(staff)


def invitation_fingerprint(staff: Staff) -> str:
    """Put in the invitation link: it changes when the invitation is used (status, password),
    renewed (invited_at) or cancelled (status), so that a link works once."""
    material = "|".join((staff["id"], staff["status"], staff["invited_at"], staff["password_hash"] or ""))
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def renew_invitation(role: str, poles: Sequence[str], by: str | None, now: datetime) -> StaffMutator:
    """The atomic mutator re-inviting an address whose invitation expired unused (the old link
    is dead already; the new one gets a new fingerprint). Refuses any other member."""

    def mutate(staff: Staff) -> Staff:
        if staff["status"] != INVITED or not invitation_expired(staff, now):
            raise InvitationReplaced()
        return staff | {"role": role, "poles": list(poles), "invited_at": to_iso(now), "invited_by": by}

    return mutate


def activate(
    expected_fingerprint: str,
    now: datetime,
    *,
    password_hash: str,
    totp_secret: str,
    totp_step: int,
    recovery_hashes: Sequence[str],
) -> StaffMutator:
    """The atomic mutator of a used invitation: password, TOTP secret (with the step of the code
    that confirmed it, so that code cannot serve again at login) and recovery codes."""

    def mutate(staff: Staff) -> Staff:
        if staff["status"] == ACTIVE:
            raise InvitationUsed()
        if staff["status"] != INVITED or invitation_fingerprint(staff) != expected_fingerprint:
            raise InvitationReplaced()
        if invitation_expired(staff, now):
            raise InvitationExpired()
        codes: list[RecoveryCode] = [{"hash": h, "used_at": None} for h in recovery_hashes]
        return staff | {
            "status": ACTIVE,
            "password_hash": password_hash,
            "totp_secret": totp_secret,
            "totp_last_step": totp_step,
            "recovery_codes": codes,
            "activated_at": to_iso(now),
        }

    return mutate


def password_problem(password: str, email: str, is_common: Callable[[str], bool]) -> str | None:
    """The candidates' policy, word for word (``accounts.rules.password_problem``): the French
    reason to refuse, or None."""
    return account_rules.password_problem(password, email, is_common)


# -- login -----------------------------------------------------------------------------------------
def login_fingerprint(staff: Staff) -> str:
    """Put in the second-step ticket: it changes with the password, the status and every accepted
    code, so a ticket serves one successful second step, and dies with the account."""
    used = sum(1 for c in staff["recovery_codes"] if c["used_at"] is not None)
    material = "|".join(
        (staff["id"], staff["status"], staff["password_hash"] or "", str(staff["totp_last_step"]), str(used))
    )
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def _check_ticket(staff: Staff, expected_fingerprint: str) -> None:
    if staff["status"] != ACTIVE:
        raise NotActive()
    if login_fingerprint(staff) != expected_fingerprint:
        raise TicketUsed()


def use_totp_step(step: int, expected_fingerprint: str) -> StaffMutator:
    """The atomic mutator accepting a TOTP code of time step ``step``: refused if a code of this
    step or a later one was accepted already (no replay within the code's window)."""

    def mutate(staff: Staff) -> Staff:
        _check_ticket(staff, expected_fingerprint)
        if step <= staff["totp_last_step"]:
            raise CodeAlreadyUsed()
        return staff | {"totp_last_step": step}

    return mutate


def use_recovery_code(digests: Sequence[str], expected_fingerprint: str, now: datetime) -> StaffMutator:
    """The atomic mutator spending one recovery code. ``digests``: the code's HMAC under each
    server key (newest first, for key rotation). Every stored code is compared, in constant time,
    whatever matches: the time does not tell which one, or whether one was used."""

    def mutate(staff: Staff) -> Staff:
        _check_ticket(staff, expected_fingerprint)
        found = -1
        for index, code in enumerate(staff["recovery_codes"]):
            match = False
            for digest in digests:
                match |= hmac.compare_digest(code["hash"], digest)
            if match and code["used_at"] is None and found < 0:
                found = index
        if found < 0:
            raise RecoveryCodeRefused()
        codes: list[RecoveryCode] = [
            {"hash": c["hash"], "used_at": to_iso(now) if i == found else c["used_at"]}
            for i, c in enumerate(staff["recovery_codes"])
        ]
        return staff | {"recovery_codes": codes}

    return mutate


def recovery_codes_left(staff: Staff) -> int:
    return sum(1 for c in staff["recovery_codes"] if c["used_at"] is None)


def swap_password_hash(old: str, new: str) -> StaffMutator:
    """After a login with outdated argon2 parameters: the new hash, unless it changed meanwhile."""
    return lambda staff: staff | {"password_hash": new} if staff["password_hash"] == old else staff


# -- disabling and sessions ----------------------------------------------------------------------
def disable(now: datetime, by: str | None) -> StaffMutator:
    """The atomic mutator disabling a member (an invitation not used yet dies with it)."""

    def mutate(staff: Staff) -> Staff:
        if staff["status"] == DISABLED:
            raise AlreadyDisabled()
        return staff | {"status": DISABLED, "disabled_at": to_iso(now), "disabled_by": by}

    return mutate


def session_expired(
    session: StaffSession,
    now: datetime,
    idle: timedelta = SESSION_IDLE,
    absolute: timedelta = SESSION_ABSOLUTE,
) -> bool:
    """The staff sessions' timeouts: 30 min idle, 10 h absolute by default (at the limit itself,
    it is over)."""
    return now - from_iso(session["created_at"]) >= absolute or now - from_iso(session["last_seen"]) >= idle
