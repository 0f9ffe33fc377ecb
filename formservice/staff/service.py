"""Staff use cases: the rules of ``staff/rules.py`` applied to the store, the mail and the log.

Views and commands parse their input and call these; these never see a Request.

- ``invite`` records the invited member and the invitation mail in one atomic write; the link
  (``links("staff_invitation", token=...)``) is valid 72 h and works once.
- ``check_invitation`` / ``begin_enrolment`` / ``finish_enrolment``: the invitation page. The
  first two change nothing (a mail scanner may open the link); the last one sets the password
  and the TOTP secret after checking a first code, and returns the ten recovery codes, in clear,
  the only time they exist outside the member's hands.
- ``authenticate`` (the password, step 1) then ``second_factor`` (a TOTP code or a recovery
  code, step 2, with the signed ticket step 1 gave): both are throttled with growing delays,
  counting the attempts in flight, and step 1 costs the same for an unknown address.
- ``disable``, ``list``, the staff sessions (``open_session``, ``resume_session``,
  ``end_session``, ``purge_sessions``).

Every action is written to the audit log, pseudonymously: a member appears as ``s:<hmac>``,
their address as ``e:<hmac>`` like a candidate's; ``by`` is the acting member or ``"cli"``.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import ClassVar

from formservice.accounts import rules as account_rules
from formservice.accounts.passwords import Hasher, is_common
from formservice.accounts.tokens import Purpose, TokenExpired, TokenInvalid, Tokens
from formservice.audit import AuditLog
from formservice.clock import Clock, from_iso, to_iso
from formservice.errors import BadRequest, Conflict, TooManyRequests
from formservice.frenchdates import datetime_fr
from formservice.notice import Notice
from formservice.outbox import Outbox
from formservice.ratelimit import Backoff, Limits, Throttles
from formservice.settings import RateLimits, Settings
from formservice.staff import rules, totp
from formservice.staff.records import Staff, StaffSession
from formservice.states import States
from formservice.store import RecordMissing, Store, StoreUnavailable
from formservice.store.records import OutboxMail

log = logging.getLogger("formservice.staff")

# An absolute URL of a named route, for mails: ``links("staff_invitation", token=...)``.
Links = Callable[..., str]

INVITATION_ROUTE = "staff_invitation"
# The second step's ceiling per member: one who has the password must not get to try the million
# codes at the candidates' pace (60 s). At 15 min, three guesses in a million an hour at most.
SECOND_FACTOR_MAX_DELAY = 15 * 60.0


class Invitation(StrEnum):
    READY = "ready"  # valid, not used: the page shows the password, QR code and first code form
    USED = "used"
    EXPIRED = "expired"
    INVALID = "invalid"


class InvitationUnusable(Conflict):
    """The invitation link cannot be used (any more); ``outcome`` says why."""

    title = "Invitation inutilisable"
    MESSAGES: ClassVar[dict[Invitation, str]] = {
        Invitation.USED: (
            "Cette invitation a déjà servi : votre compte de gestion est créé. Connectez-vous avec "
            "votre adresse électronique, votre mot de passe et votre application d'authentification."
        ),
        Invitation.EXPIRED: (
            "Cette invitation a expiré (elle était valable 72 heures) : demandez-en une nouvelle "
            "à un administrateur du service des examens."
        ),
        Invitation.INVALID: (
            "Ce lien d'invitation n'est pas valide : vérifiez qu'il est complet, ou demandez une "
            "nouvelle invitation à un administrateur (une invitation plus récente remplace la précédente)."
        ),
    }

    def __init__(self, outcome: Invitation):
        self.outcome = outcome
        super().__init__(self.MESSAGES.get(outcome, self.MESSAGES[Invitation.INVALID]))


class CodeRefused(BadRequest):
    title = "Code refusé"
    message = (
        "Ce code n'est pas le bon : saisissez les 6 chiffres que votre application affiche en ce "
        "moment (si elle en a déjà changé, le nouveau). Vérifiez aussi que l'heure de votre "
        "téléphone est réglée automatiquement."
    )


class SecretInvalid(BadRequest):
    message = (
        "La clé de l'application d'authentification n'a pas été reconnue : rouvrez le lien "
        "d'invitation et recommencez l'enrôlement."
    )


@dataclass(frozen=True)
class TotpSetup:
    """What the enrolment page shows: the QR code and, for who cannot scan, the secret as text."""

    email: str
    secret: str  # base32, to post back with the first code
    secret_text: str  # grouped by 4: « ABCD EFGH ... »
    uri: str  # otpauth://totp/...
    qr_svg: str  # inline SVG with a <title>


class LoginStatus(StrEnum):
    OK = "ok"  # the password is right: ask for the code with ``ticket``
    BAD = "bad"  # unknown address, invitation not used, or wrong password: one answer
    DISABLED = "disabled"  # the right password of a disabled member


@dataclass(frozen=True)
class StaffLogin:
    status: LoginStatus
    ticket: str | None = None  # signed, 5 min, single use: the second step's only input


class SecondStep(StrEnum):
    OK = "ok"
    BAD = "bad"  # a wrong, already used or malformed code: ask again
    EXPIRED = "expired"  # more than 5 min since the password: start again
    INVALID = "invalid"  # tampered ticket, used already, or the member disabled: start again


@dataclass(frozen=True)
class SecondFactorResult:
    status: SecondStep
    staff: Staff | None = None  # the active member, on OK only
    method: str | None = None  # "totp" | "recovery"
    recovery_codes_left: int | None = None  # after a recovery code: warn when few are left


class SecondFactorLimits:
    """The second step's throttles: the login's Backoffs (same free attempts and base delay),
    per (member, IP), per member (ceiling ``SECOND_FACTOR_MAX_DELAY``) and per IP, in that order
    for ``Throttles`` (a success forgets the first two, never the per-IP count)."""

    def __init__(self, clock: Clock, cfg: RateLimits, states: States | None = None):
        def backoff(free: int, max_delay: float, kind: str) -> Backoff:
            return Backoff(
                clock,
                free=free,
                base_delay=cfg.login_base_delay,
                max_delay=max_delay,
                states=states,
                kind=kind,
            )

        self.pair = backoff(cfg.login_free_per_pair, cfg.login_max_delay, "second_factor_pair")
        self.staff = backoff(
            2 * cfg.login_free_per_pair,
            max(cfg.login_max_delay, SECOND_FACTOR_MAX_DELAY),
            "second_factor_staff",
        )
        self.ip = backoff(cfg.login_free_per_ip, cfg.login_max_delay, "second_factor_ip")


class StaffService:
    """Built once by the composition root (``web/composition.py``) with what it needs."""

    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        notices: Callable[[], Notice],
        settings: Settings,
        audit: AuditLog,
        hasher: Hasher,
        tokens: Tokens,
        limits: Limits,
        mail: Outbox,
        links: Links,
    ):
        self.store = store
        self.clock = clock
        self.notice = notices
        self.settings = settings
        self.audit = audit
        self.hasher = hasher
        self.tokens = tokens
        self.limits = limits
        self.mail = mail
        self.link = links
        self.recovery = totp.RecoveryKeys(settings.secret_keys)
        self.second_factor_limits = SecondFactorLimits(clock, settings.limits, limits.states)
        self._invitations = tokens.signer(Purpose.STAFF_INVITATION)
        self._tickets = tokens.signer(Purpose.STAFF_SECOND_FACTOR)
        # The staff sessions' timeouts: the settings' when they name them, else the rules' (30 min, 10 h).
        self.session_idle: timedelta = settings.staff_session_idle
        self.session_absolute: timedelta = settings.staff_session_absolute

    # -- helpers ------------------------------------------------------------------------------

    def _p(self, kind: str, value: str) -> str:
        return self.audit.pseudonym(kind, value)

    def _who(self, staff_id: str | None) -> str:
        """``by`` in the audit log: the acting member's pseudonym, or the command line."""
        return self._p("s", staff_id) if staff_id else "cli"

    async def _administrateur(self, staff_id: str | None) -> Staff | None:
        """The acting administrateur (None: the command line); refuses anyone else."""
        if staff_id is None:
            return None
        acting = await self.store.staff.get(staff_id)
        if not rules.is_admin(acting):
            self.audit.event("staff.action_refused", staff=self._who(staff_id), reason="not_admin")
            raise rules.AdministrateurRequired()
        return acting

    def _invitation_mail(self, staff: Staff, inviter: Staff | None) -> OutboxMail:
        notice = self.notice()
        token = self._invitations.dumps({"s": staff["id"], "f": rules.invitation_fingerprint(staff)})
        poles = [(p.name if (p := notice.pole(pole_id)) else pole_id) for pole_id in staff["poles"]]
        return self.mail.prepare(
            staff["email"],
            f"{notice.academie.name} : invitation à l'espace de gestion des examens",
            "staff_invitation",
            {
                "link": self.link(INVITATION_ROUTE, token=token),
                "deadline": rules.invitation_deadline(staff),
                "valid_for": rules.INVITATION_VALIDITY,
                "role": staff["role"],
                "is_admin": staff["role"] == rules.ADMINISTRATEUR,
                "pole_names": poles,
                "inviter": inviter["email"] if inviter else None,
            },
        )

    # -- invitation ---------------------------------------------------------------------------

    async def invite(
        self, email: str, role: str, poles: Sequence[str], by_staff_id: str | None = None
    ) -> Staff:
        """Create an invited member and record the invitation mail in the same write.

        ``by_staff_id``: the acting administrateur, None for the command line. Refuses an
        invalid address, an unknown role or pôle (``notice.yml``'s), a gestionnaire without pôle,
        an administrateur with pôles, an address already staff. An invitation that expired
        unused is renewed (new link, new 72 h): the address is not lost for good."""
        address = account_rules.normalize_email(email)
        inviter = await self._administrateur(by_staff_id)
        wanted = rules.check_assignment(role, poles, [p.id for p in self.notice().poles])
        now = self.clock.now()
        for _ in range(3):
            staff = rules.new_invited(secrets.token_hex(16), address, role, wanted, by_staff_id, now)
            if await self.store.staff.create_if_email_free(staff, [self._invitation_mail(staff, inviter)]):
                event, done = "staff.invited", staff
            else:
                existing = await self.store.staff.by_email(address)
                if existing is None:
                    continue  # gone meanwhile: try again
                self._refuse_unless_expired(existing, now, by_staff_id)
                renewed = await self._renew(existing, role, wanted, by_staff_id, inviter, now)
                if renewed is None:
                    continue  # someone else renewed or removed it: look again
                event, done = "staff.invitation_renewed", renewed
            await self.mail.wake()
            self.audit.event(
                event, staff=self._p("s", done["id"]), by=self._who(by_staff_id), role=role, poles=wanted
            )
            return done
        raise rules.AlreadyStaff()

    def _refuse_unless_expired(self, existing: Staff, now: datetime, by_staff_id: str | None) -> None:
        """An address already staff, or invited with a link still valid, is refused (audited)."""
        if rules.invitation_expired(existing, now):
            return
        self.audit.event(
            "staff.invite_refused",
            staff=self._p("s", existing["id"]),
            by=self._who(by_staff_id),
            reason=existing["status"],
        )
        if existing["status"] == rules.INVITED:
            deadline = rules.invitation_deadline(existing).astimezone(self.notice().tz)
            raise rules.InvitationPending(datetime_fr(deadline))
        raise rules.AlreadyStaff()

    async def _renew(
        self,
        existing: Staff,
        role: str,
        wanted: list[str],
        by_staff_id: str | None,
        inviter: Staff | None,
        now: datetime,
    ) -> Staff | None:
        """A new link for an invitation that expired unused; None if it changed meanwhile."""
        try:
            return await self.store.staff.update(
                existing["id"],
                rules.renew_invitation(role, wanted, by_staff_id, now),
                lambda doc: [self._invitation_mail(doc, inviter)],
            )
        except (rules.InvitationReplaced, RecordMissing):
            return None

    async def check_invitation(self, token: str) -> tuple[Invitation, Staff | None]:
        """What the invitation page should say; changes nothing (mail scanners open links)."""
        try:
            payload = self._invitations.loads(token, rules.INVITATION_VALIDITY)
        except TokenExpired:
            return Invitation.EXPIRED, None
        except TokenInvalid:
            return Invitation.INVALID, None
        staff = await self.store.staff.get(str(payload.get("s", "")))
        if staff is None:
            return Invitation.INVALID, None
        if staff["status"] == rules.ACTIVE:
            return Invitation.USED, staff
        if staff["status"] != rules.INVITED or rules.invitation_fingerprint(staff) != payload.get("f"):
            return Invitation.INVALID, None  # renewed since, or the member disabled
        if rules.invitation_expired(staff, self.clock.now()):
            return Invitation.EXPIRED, staff
        return Invitation.READY, staff

    async def _ready_invitation(self, token: str, step: str) -> Staff:
        outcome, staff = await self.check_invitation(token)
        if outcome is not Invitation.READY or staff is None:
            self.audit.event(
                "staff.enrolment_refused",
                staff=self._p("s", staff["id"]) if staff else None,
                step=step,
                reason=outcome.value,
            )
            raise InvitationUnusable(outcome)
        return staff

    async def begin_enrolment(self, token: str) -> TotpSetup:
        """A fresh TOTP secret for the invitation page: its QR code and its text. Nothing is
        stored until ``finish_enrolment`` (opening the page twice gives two secrets; the one
        confirmed by a code is kept)."""
        staff = await self._ready_invitation(token, "begin")
        self.audit.event("staff.enrolment_started", staff=self._p("s", staff["id"]))
        secret = totp.new_secret()
        uri = totp.provisioning_uri(secret, staff["email"], totp.issuer_name(self.notice().academie.name))
        return TotpSetup(
            email=staff["email"],
            secret=secret,
            secret_text=totp.grouped(secret),
            uri=uri,
            qr_svg=totp.qr_svg(uri),
        )

    async def finish_enrolment(self, token: str, password: str, secret: str, code: str) -> list[str]:
        """Check the first code against ``secret`` (as ``begin_enrolment`` gave it), set the
        password (the candidates' policy) and the secret, activate the member; return the ten
        recovery codes in clear, once. Raises InvitationUnusable, PasswordRefused, SecretInvalid
        or CodeRefused (nothing is written then)."""
        staff = await self._ready_invitation(token, "finish")
        problem = rules.password_problem(password, staff["email"], is_common)
        if problem:
            self.audit.event("staff.enrolment_refused", staff=self._p("s", staff["id"]), reason="password")
            raise rules.PasswordRefused(problem)
        totp_secret = totp.normalize_secret(secret)
        if totp_secret is None:
            raise SecretInvalid()
        now = self.clock.now()
        step = totp.accept(totp_secret, code, staff["totp_last_step"], now)
        if step is None:
            self.audit.event("staff.enrolment_refused", staff=self._p("s", staff["id"]), reason="bad_code")
            raise CodeRefused()
        password_hash = await self.hasher.hash(password)
        codes = totp.new_recovery_codes()
        mutate = rules.activate(
            rules.invitation_fingerprint(staff),
            now,
            password_hash=password_hash,
            totp_secret=totp_secret,
            totp_step=step,
            recovery_hashes=[self.recovery.digest(c) for c in codes],
        )
        try:
            await self.store.staff.update(staff["id"], mutate)
        except rules.InvitationUsed:
            raise InvitationUnusable(Invitation.USED) from None
        except rules.InvitationExpired:
            raise InvitationUnusable(Invitation.EXPIRED) from None
        except (rules.InvitationReplaced, RecordMissing):
            raise InvitationUnusable(Invitation.INVALID) from None
        self.audit.event("staff.activated", staff=self._p("s", staff["id"]), role=staff["role"])
        return codes

    # -- login ----------------------------------------------------------------------------------

    async def authenticate(self, email: str, password: str, ip: str | None) -> StaffLogin:
        """Step 1: the password, with growing delays per (address, IP), per address and per IP
        (the candidates' Backoffs and thresholds; the per-IP count is shared with candidate
        login), attempts counted as they start. Same work for an unknown address (a dummy
        verify). Raises TooManyRequests while a delay runs."""
        try:
            address = account_rules.normalize_email(email)
        except account_rules.EmailInvalid:
            address = (email or "").strip().lower()[: account_rules.MAX_EMAIL_LENGTH]
        limits = self.limits
        email_key, ip_key = f"staff|{self._p('e', address)}", self._p("ip", ip or "?")
        throttles = Throttles(
            (limits.login_pair, f"{email_key}|{ip_key}"),
            (limits.login_account, email_key),
            (limits.login_ip, ip_key),
        )
        wait = await throttles.reserve()
        if wait > 0:
            self.audit.event("staff.login_throttled", email=address, ip=ip, wait=round(wait))
            raise TooManyRequests(wait)
        async with throttles:
            staff = await self.store.staff.by_email(address) if address else None
            stored = staff["password_hash"] if staff else None
            if stored is None:  # no such member, or an invitation not used yet
                await self.hasher.dummy_verify(password)
                ok = False
            else:
                ok = await self.hasher.verify(stored, password)
            if not ok:
                throttles.outcome = "failure"
                self.audit.event(
                    "staff.login_failure",
                    email=address,
                    ip=ip,
                    staff=self._p("s", staff["id"]) if staff else None,
                )
                return StaffLogin(LoginStatus.BAD)
            assert staff is not None and stored is not None
            throttles.outcome = "success"  # the per-IP count is not forgotten on a success
        if staff["status"] != rules.ACTIVE:
            self.audit.event("staff.login_disabled", staff=self._p("s", staff["id"]), ip=ip)
            return StaffLogin(LoginStatus.DISABLED)
        if self.hasher.needs_rehash(stored):
            new = await self.hasher.hash(password)
            staff = await self.store.staff.update(staff["id"], rules.swap_password_hash(stored, new))
            self.audit.event("staff.password_rehashed", staff=self._p("s", staff["id"]))
        ticket = self._tickets.dumps({"s": staff["id"], "f": rules.login_fingerprint(staff)})
        self.audit.event("staff.password_accepted", staff=self._p("s", staff["id"]), ip=ip)
        return StaffLogin(LoginStatus.OK, ticket)

    async def second_factor(self, ticket: str, code: str, ip: str | None) -> SecondFactorResult:
        """Step 2: a TOTP code (6 digits) or a recovery code, with the ticket of step 1 (5 min).
        Throttled per (member, IP), per member and per IP, attempts in flight counted; raises
        TooManyRequests while a delay runs. A code is accepted once: the TOTP step is stored,
        a recovery code marked used, both checked again inside the store's atomic update."""
        try:
            payload = self._tickets.loads(ticket, rules.SECOND_FACTOR_MAX_AGE)
        except TokenExpired:
            self.audit.event("staff.second_factor_refused", ip=ip, reason="expired")
            return SecondFactorResult(SecondStep.EXPIRED)
        except TokenInvalid:
            self.audit.event("staff.second_factor_refused", ip=ip, reason="invalid")
            return SecondFactorResult(SecondStep.INVALID)
        staff_id, fingerprint = str(payload.get("s", "")), str(payload.get("f", ""))
        staff_key, ip_key = self._p("s", staff_id), self._p("ip", ip or "?")
        lim = self.second_factor_limits
        throttles = Throttles((lim.pair, f"{staff_key}|{ip_key}"), (lim.staff, staff_key), (lim.ip, ip_key))
        wait = await throttles.reserve()
        if wait > 0:
            self.audit.event("staff.second_factor_throttled", staff=staff_key, ip=ip, wait=round(wait))
            raise TooManyRequests(wait)
        async with throttles:
            staff = await self.store.staff.get(staff_id)
            if staff is None or not rules.is_active(staff) or rules.login_fingerprint(staff) != fingerprint:
                self.audit.event("staff.second_factor_refused", staff=staff_key, ip=ip, reason="invalid")
                return SecondFactorResult(SecondStep.INVALID)
            method, mutate = self._code_use(staff, code, fingerprint)
            try:
                if mutate is not None:
                    staff = await self.store.staff.update(staff_id, mutate)
            except (rules.CodeAlreadyUsed, rules.RecoveryCodeRefused):
                mutate = None
            except (rules.TicketUsed, rules.NotActive, RecordMissing):  # another step 2 won the race
                self.audit.event("staff.second_factor_refused", staff=staff_key, ip=ip, reason="raced")
                return SecondFactorResult(SecondStep.INVALID)
            if mutate is None:  # a wrong code, one already used, or not a code at all
                throttles.outcome = "failure"
                self.audit.event("staff.second_factor_failure", staff=staff_key, ip=ip, method=method)
                return SecondFactorResult(SecondStep.BAD)
            throttles.outcome = "success"
        left = rules.recovery_codes_left(staff) if method == "recovery" else None
        self.audit.event("staff.login_success", staff=staff_key, ip=ip, method=method, recovery_left=left)
        return SecondFactorResult(SecondStep.OK, staff, method, left)

    def _code_use(self, staff: Staff, code: str, fingerprint: str) -> tuple[str, rules.StaffMutator | None]:
        """Which kind of code this is, and the write that uses it up (None: not a valid code).
        The write checks it again under the store's lock: a code serves once."""
        now = self.clock.now()
        if totp.normalize_code(code) is not None:
            step = totp.accept(staff["totp_secret"] or "", code, staff["totp_last_step"], now)
            return "totp", rules.use_totp_step(step, fingerprint) if step is not None else None
        digests = self.recovery.digests(code)
        return "recovery", rules.use_recovery_code(digests, fingerprint, now) if digests else None

    # -- sessions -------------------------------------------------------------------------------

    async def open_session(self, staff: Staff, session_id: str) -> StaffSession:
        """Store a session for an active member after step 2; ``session_id`` is the SHA-256 of
        the cookie's value (the web layer makes both; the cookie is never stored)."""
        if not rules.is_active(staff):
            raise rules.StaffNotActive()
        stamp = to_iso(self.clock.now())
        record: StaffSession = {
            "id": session_id,
            "staff_id": staff["id"],
            "created_at": stamp,
            "last_seen": stamp,
        }
        return await self.store.staff_sessions.create(record)

    async def resume_session(self, session_id: str) -> Staff | None:
        """The active member behind a stored session, or None (and the session deleted) when it
        is past its timeouts (30 min idle, 10 h absolute by default) or its member is no longer active.
        ``last_seen`` is written at most once per ``settings.session_touch``."""
        record = await self.store.staff_sessions.get(session_id)
        if record is None:
            return None
        now = self.clock.now()
        staff_key = self._p("s", record["staff_id"])
        if rules.session_expired(record, now, self.session_idle, self.session_absolute):
            await self.store.staff_sessions.delete(session_id)
            self.audit.event("staff.session_expired", staff=staff_key)
            return None
        staff = await self.store.staff.get(record["staff_id"])
        if not rules.is_active(staff):
            await self.store.staff_sessions.delete(session_id)
            self.audit.event("staff.session_refused", staff=staff_key, reason="not_active")
            return None
        if now - from_iso(record["last_seen"]) >= self.settings.session_touch:
            try:
                await self.store.staff_sessions.update(session_id, lambda r: r | {"last_seen": to_iso(now)})
            except RecordMissing:  # logged out meanwhile
                return None
        return staff

    async def end_session(self, session_id: str) -> bool:
        """Logout: the stored session is deleted, so a replayed cookie is anonymous."""
        return await self.store.staff_sessions.delete(session_id)

    async def _end_sessions(self, staff_id: str) -> int:
        """After a disabling is committed: its sessions are already dead (``resume_session``
        refuses a member not active); if the store cannot delete them now, the purge will."""
        try:
            return await self.store.staff_sessions.delete_for_staff(staff_id)
        except StoreUnavailable:
            log.warning("sessions du membre %s : suppression reportée (stockage indisponible)", staff_id)
            return 0

    async def purge_sessions(self) -> int:
        """Remove the staff sessions past their idle or absolute timeout (a batch job)."""
        removed = 0
        for record in await self.store.staff_sessions.expired(
            self.clock.now(), self.session_idle, self.session_absolute
        ):
            if await self.store.staff_sessions.delete(record["id"]):
                removed += 1
        if removed:
            self.audit.event("staff.sessions_purged", count=removed)
        return removed

    # -- management -----------------------------------------------------------------------------

    async def disable(self, email: str, by: str | None = None) -> Staff:
        """Disable a member (``by``: the acting administrateur, None for the command line) and
        delete their sessions. Disabling a member already disabled changes nothing and says so
        in the log; one cannot disable oneself."""
        address = account_rules.normalize_email(email)
        await self._administrateur(by)
        staff = await self.store.staff.by_email(address)
        if staff is None:
            raise rules.StaffNotFound()
        if by is not None and by == staff["id"]:
            raise rules.CannotDisableSelf()
        changed = True
        try:
            staff = await self.store.staff.update(staff["id"], rules.disable(self.clock.now(), by))
        except rules.AlreadyDisabled:
            changed = False
        except RecordMissing:
            raise rules.StaffNotFound() from None
        ended = await self._end_sessions(staff["id"])
        self.audit.event(
            "staff.disabled" if changed else "staff.disable_repeated",
            staff=self._p("s", staff["id"]),
            by=self._who(by),
            sessions_ended=ended,
        )
        return staff

    async def list(self) -> list[Staff]:
        """Every member, by e-mail (records as stored: show role, pôles, status and dates, never
        the hashes or the secret)."""
        return await self.store.staff.all()

    def close(self) -> None:
        """Nothing of its own to release (the hasher's threads belong to the composition root)."""


__all__ = [
    "INVITATION_ROUTE",
    "CodeRefused",
    "Invitation",
    "InvitationUnusable",
    "LoginStatus",
    "SecondFactorLimits",
    "SecondFactorResult",
    "SecondStep",
    "SecretInvalid",
    "StaffLogin",
    "StaffService",
    "TotpSetup",
]
