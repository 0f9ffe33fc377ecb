"""Account use cases: the rules of ``accounts/rules.py`` applied to the store, the mail and the log.

Views parse forms and call these; these never see a Request. Each use case answers the same way
whether or not an address has an account (signup, resend, reset), and does the same expensive
work either way (a password hash on signup, a verify or a dummy verify on login), so neither the
page nor its timing tells who is registered. Mails go through the background queue for the same
reason.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from formservice.accounts import rules
from formservice.accounts.passwords import Hasher
from formservice.accounts.records import Account
from formservice.accounts.tokens import TokenExpired, TokenInvalid, Tokens
from formservice.audit import AuditLog
from formservice.clock import Clock
from formservice.errors import TooManyRequests
from formservice.notice import Notice
from formservice.outbox import Outbox
from formservice.ratelimit import Limits, Quota, Throttles
from formservice.settings import Settings
from formservice.store import RecordMissing, Store, StoreUnavailable
from formservice.store.records import OutboxMail

log = logging.getLogger("formservice.accounts")

# An absolute URL of a named route, for mails: ``links("activate", token=...)``.
Links = Callable[..., str]


class Activation(StrEnum):
    READY = "ready"  # valid link, not used yet: the page shows the « Activer mon compte » button
    ACTIVATED = "activated"
    ALREADY_ACTIVE = "already_active"
    EXPIRED = "expired"
    INVALID = "invalid"


class Reset(StrEnum):
    READY = "ready"
    DONE = "done"
    EXPIRED = "expired"
    INVALID = "invalid"


@dataclass(frozen=True)
class LoginResult:
    status: str  # "ok" | "bad" | "pending"
    account: Account | None = None


class AccountService:
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

    def close(self) -> None:
        """Nothing of its own to release (the hasher's threads belong to the composition root)."""

    # -- helpers ------------------------------------------------------------------------------

    @property
    def _delay(self) -> timedelta:
        return self.notice().activation_delay

    def _p(self, kind: str, value: str) -> str:
        return self.audit.pseudonym(kind, value)

    async def _throttle(self, window: Quota, ip: str | None) -> None:
        wait = await window.take(self._p("ip", ip or "?"))
        if wait > 0:
            raise TooManyRequests(wait)

    async def _may_mail(self, email: str) -> bool:
        return await self.limits.mails_per_address.hit(self._p("e", email))

    def _activation_mail(self, account: Account) -> OutboxMail:
        notice = self.notice()
        token = self.tokens.activation.dumps({"a": account["id"]})
        return self.mail.prepare(
            account["email"],
            f"{notice.academie.name} : activez votre compte candidat",
            "activation",
            {
                "link": self.link("activate", token=token),
                "deadline": rules.activation_deadline(account, notice.activation_delay),
            },
        )

    async def _mail_activation(self, account: Account) -> None:
        await self.store.outbox.add(self._activation_mail(account))
        await self.mail.wake()

    # -- signup and activation ---------------------------------------------------------------

    async def signup(self, email: str, password: str, ip: str | None) -> None:
        """Create a pending account and mail its activation link; if the address is taken, mail
        its owner instead (login and reset links, or the activation link again). Same answer."""
        await self._throttle(self.limits.signup_ip, ip)
        password_hash = await self.hasher.hash(password)  # always: same cost either way
        store, now = self.store, self.clock.now()
        may_mail = await self._may_mail(email)  # counted once, whichever mail this signup sends
        for _ in range(3):
            account = rules.new_account(secrets.token_hex(16), email, password_hash, now)
            mails = [self._activation_mail(account)] if may_mail else []
            if await store.accounts.create_if_email_free(account, mails):
                if mails:
                    await self.mail.wake()
                self.audit.event("account.created", account_id=account["id"], ip=ip)
                return
            existing = await store.accounts.by_email(email)
            if existing is None:
                continue  # deleted meanwhile: try again
            if rules.activation_expired(existing, now, self._delay):
                if await store.accounts.delete_if(existing["id"], rules.may_purge(now, self._delay)):
                    self.audit.event("account.purged", account_id=existing["id"], reason="signup_again")
                continue
            self.audit.event("account.signup_existing", account_id=existing["id"], ip=ip)
            if not may_mail:
                return
            if existing["status"] == rules.ACTIVE:
                notice = self.notice()
                await self.mail.send_template(
                    email,
                    f"{notice.academie.name} : vous avez déjà un compte",
                    "already_registered",
                    {"login_link": self.link("login"), "reset_link": self.link("forgot_password")},
                )
            else:
                await self._mail_activation(existing)
            return

    async def _activation_target(self, token: str) -> tuple[Activation, Account | None]:
        late = False
        try:
            payload = self.tokens.activation.loads(token, self._delay)
        except TokenExpired as exc:  # genuine but late: its account may still need deleting
            payload, late = exc.payload or {}, True
        except TokenInvalid:
            return Activation.INVALID, None
        account = await self.store.accounts.get(str(payload.get("a", "")))
        if account is None:
            return (Activation.EXPIRED if late else Activation.INVALID), None
        if account["status"] == rules.ACTIVE:
            return Activation.ALREADY_ACTIVE, account
        if late or rules.activation_expired(account, self.clock.now(), self._delay):
            return Activation.EXPIRED, account
        return Activation.READY, account

    async def check_activation(self, token: str) -> Activation:
        """What the link's page should say; changes nothing (mail scanners open links)."""
        outcome, _ = await self._activation_target(token)
        return outcome

    async def activate(self, token: str, ip: str | None) -> Activation:
        outcome, account = await self._activation_target(token)
        now, delay = self.clock.now(), self._delay
        if (
            outcome is Activation.EXPIRED
            and account is not None
            and await self.store.accounts.delete_if(account["id"], rules.may_purge(now, delay))
        ):
            self.audit.event("account.purged", account_id=account["id"], reason="late_activation")
        if outcome is not Activation.READY or account is None:
            self.audit.event("account.activation_refused", ip=ip, reason=outcome.value)
            return outcome
        try:
            await self.store.accounts.update(account["id"], rules.activate(now, delay))
        except rules.AlreadyActive:
            return Activation.ALREADY_ACTIVE
        except (rules.ActivationExpired, RecordMissing):  # the purge won the race
            return Activation.EXPIRED
        self.audit.event("account.activated", account_id=account["id"], ip=ip)
        return Activation.ACTIVATED

    async def resend_activation(self, email: str, ip: str | None) -> None:
        await self._throttle(self.limits.resend_ip, ip)
        account = await self.store.accounts.by_email(email)
        self.audit.event("account.resend_requested", email=email, ip=ip)
        if (
            account is not None
            and account["status"] == rules.PENDING
            and not rules.activation_expired(account, self.clock.now(), self._delay)
            and await self._may_mail(email)
        ):
            await self._mail_activation(account)

    # -- login ---------------------------------------------------------------------------------

    async def authenticate(self, email: str, password: str, ip: str | None) -> LoginResult:
        """Check the password with growing delays per (account, IP), per account and per IP;
        raise TooManyRequests while a delay runs. Keys exist for unknown addresses too. Each
        attempt is reserved before the verify and released after it: concurrent guesses are
        counted as they start, not as they end."""
        limits = self.limits
        email_key, ip_key = self._p("e", email), self._p("ip", ip or "?")
        throttles = Throttles(
            (limits.login_pair, f"{email_key}|{ip_key}"),
            (limits.login_account, email_key),
            (limits.login_ip, ip_key),
        )
        wait = await throttles.reserve()
        if wait > 0:
            self.audit.event("login.throttled", email=email, ip=ip, wait=round(wait))
            raise TooManyRequests(wait)
        async with throttles:
            account = await self.store.accounts.by_email(email)
            if account is None:
                await self.hasher.dummy_verify(password)
                ok = False
            else:
                ok = await self.hasher.verify(account["password_hash"], password)
            if not ok:
                throttles.outcome = "failure"
                self.audit.event(
                    "login.failure", email=email, ip=ip, account_id=account["id"] if account else None
                )
                return LoginResult("bad")
            assert account is not None
            throttles.outcome = "success"  # the per-IP count is not forgotten on a success
        if account["status"] != rules.ACTIVE:
            self.audit.event("login.pending", account_id=account["id"], ip=ip)
            return LoginResult("pending", account)
        if self.hasher.needs_rehash(account["password_hash"]):
            account = await self._rehash(account, password)
        self.audit.event("login.success", account_id=account["id"], ip=ip)
        return LoginResult("ok", account)

    async def _rehash(self, account: Account, password: str) -> Account:
        old = account["password_hash"]
        new = await self.hasher.hash(password)

        def swap(doc: Account) -> Account:
            # Only if nobody changed the password meanwhile.
            return doc | {"password_hash": new} if doc["password_hash"] == old else doc

        account = await self.store.accounts.update(account["id"], swap)
        self.audit.event("password.rehashed", account_id=account["id"])
        return account

    # -- password reset and change ----------------------------------------------------------------

    async def request_reset(self, email: str, ip: str | None) -> None:
        await self._throttle(self.limits.reset_ip, ip)
        account = await self.store.accounts.by_email(email)
        self.audit.event("password.reset_requested", email=email, ip=ip)
        if account is None or not await self._may_mail(email):
            return
        if account["status"] == rules.ACTIVE:
            notice = self.notice()
            token = self.tokens.reset.dumps({"a": account["id"], "f": rules.password_fingerprint(account)})
            await self.mail.send_template(
                email,
                f"{notice.academie.name} : réinitialisation de votre mot de passe",
                "reset",
                {
                    "link": self.link("reset_password", token=token),
                    "valid_for": self.settings.reset_max_age,
                },
            )
        elif not rules.activation_expired(account, self.clock.now(), self._delay):
            await self._mail_activation(account)

    async def check_reset(self, token: str) -> tuple[Reset, Account | None]:
        try:
            payload = self.tokens.reset.loads(token, self.settings.reset_max_age)
        except TokenExpired:
            return Reset.EXPIRED, None
        except TokenInvalid:
            return Reset.INVALID, None
        account = await self.store.accounts.get(str(payload.get("a", "")))
        if (
            account is None
            or not rules.is_active(account)
            or rules.password_fingerprint(account) != payload.get("f")
        ):
            return Reset.INVALID, None  # already used, or the password changed since
        return Reset.READY, account

    async def reset_password(self, token: str, password: str, ip: str | None) -> Reset:
        """Set the new password once per link, and end every session of the account."""
        outcome, account = await self.check_reset(token)
        if outcome is not Reset.READY or account is None:
            self.audit.event("password.reset_refused", ip=ip, reason=outcome.value)
            return outcome
        new_hash = await self.hasher.hash(password)
        try:
            await self.store.accounts.update(
                account["id"],
                rules.set_password(new_hash, self.clock.now(), rules.password_fingerprint(account)),
                self._password_changed_mails,
            )
        except (rules.PasswordChangedMeanwhile, RecordMissing):
            return Reset.INVALID
        await self.mail.wake()
        ended = await self._end_sessions(account["id"])
        self.audit.event("password.reset", account_id=account["id"], ip=ip, sessions_ended=ended)
        return Reset.DONE

    async def change_password(
        self, account: Account, current: str, new: str, ip: str | None, keep_session: str | None
    ) -> bool:
        """False if ``current`` is wrong (counted like a failed login). Ends the other sessions."""
        throttles = Throttles((self.limits.login_account, self._p("e", account["email"])))
        wait = await throttles.reserve()
        if wait > 0:
            raise TooManyRequests(wait)
        async with throttles:
            if not await self.hasher.verify(account["password_hash"], current):
                throttles.outcome = "failure"
                self.audit.event("password.change_refused", account_id=account["id"], ip=ip)
                return False
        new_hash = await self.hasher.hash(new)
        await self.store.accounts.update(
            account["id"], rules.set_password(new_hash, self.clock.now()), self._password_changed_mails
        )
        await self.mail.wake()
        ended = await self._end_sessions(account["id"], keep=keep_session)
        self.audit.event("password.changed", account_id=account["id"], ip=ip, sessions_ended=ended)
        return True

    async def _end_sessions(self, account_id: str, keep: str | None = None) -> int:
        """After a password change is committed: delete the other sessions. They are already dead
        (a session older than the password is refused, see ``rules.session_outlived``): if the
        store cannot delete them now, the change stands and the purge will."""
        try:
            return await self.store.sessions.delete_for_account(account_id, keep=keep)
        except StoreUnavailable:
            log.warning("sessions du compte %s : suppression reportée (stockage indisponible)", account_id)
            return 0

    def _password_changed_mails(self, account: Account) -> list[OutboxMail]:
        """Recorded with the new password: the owner hears of every change, even after a crash."""
        notice = self.notice()
        return [
            self.mail.prepare(
                account["email"],
                f"{notice.academie.name} : votre mot de passe a été modifié",
                "password_changed",
                {"when": self.clock.now(), "reset_link": self.link("forgot_password")},
            )
        ]

    # -- purge ---------------------------------------------------------------------------------

    async def purge_expired(self, *, dry_run: bool = False) -> list[Account]:
        """Delete the accounts not activated within the delay (never an active one): each
        deletion re-checks the rule under the store's lock, so a racing activation wins cleanly."""
        now, delay = self.clock.now(), self._delay
        store = self.store
        expired = [
            a
            for a in await store.accounts.with_status(rules.PENDING)
            if rules.activation_expired(a, now, delay)
        ]
        if dry_run:
            return expired
        deleted = []
        for account in expired:
            if await store.accounts.delete_if(account["id"], rules.may_purge(now, delay)):
                await store.sessions.delete_for_account(account["id"])
                self.audit.event("account.purged", account_id=account["id"], reason="not_activated")
                deleted.append(account)
        if deleted:
            await store.counters.add("accounts_purged", len(deleted))  # for the statistics
        return deleted

    async def purge_sessions(self) -> int:
        """Remove sessions past their idle or absolute timeout (a batch job)."""
        now, settings = self.clock.now(), self.settings
        removed = 0
        for record in await self.store.sessions.expired(
            now, settings.session_idle, settings.session_absolute
        ):
            if await self.store.sessions.delete(record["id"]):
                removed += 1
        return removed
