"""The records as stored, typed: what every engine keeps and every migration reads.

They belong to the store contract because the repositories return them and the migrations
rewrite them; the features re-export the ones they work with (``accounts.records``,
``enrolment.records``). Instants are ``clock.to_iso`` strings (UTC, to the second).
"""

from __future__ import annotations

from typing import Any, NotRequired, Required, TypedDict


# -- accounts ----------------------------------------------------------------------------------
class Account(TypedDict):
    id: str
    email: str  # normalised (rules.normalize_email), unique
    status: str  # rules.PENDING | rules.ACTIVE
    password_hash: str  # argon2id
    created_at: str
    activated_at: str | None
    password_changed_at: str
    # Reminders mailed (reporting.reminders): occasion -> when, written with the mail, in one step.
    reminders: NotRequired[dict[str, str]]


class Session(TypedDict):
    id: str  # SHA-256 of the cookie's value: the cookie itself is never stored
    account_id: str
    created_at: str
    last_seen: str


# -- enrolments --------------------------------------------------------------------------------
class StoredFileMeta(TypedDict):
    """A file as ``upload`` records it (``document_id`` and ``uploaded_at`` are added by the rules)."""

    id: str
    stored_name: str  # in the file store, under <account id>/: generated, never the candidate's name
    display_name: str  # the candidate's name, made safe (uploads.safe_display_name)
    size: int
    sha256: str
    media_type: str


class EnrolmentFile(StoredFileMeta):
    document_id: str
    uploaded_at: str


class HistoryEntry(TypedDict):
    version: int
    at: str
    changes: list[str]  # labels of the fields that changed


class ReceiptFile(TypedDict):
    document_id: str
    display_name: str
    size: int
    sha256: str


class Receipt(TypedDict):
    """« J'ai fourni toutes mes pièces »: what was handed in, frozen."""

    at: str
    version: int
    files: list[ReceiptFile]


class AddressChange(TypedDict, total=False):
    at: Required[str]
    address: Required[dict[str, str]]  # the new address (enrolment.rules.ADDRESS_FIELDS)
    previous: dict[str, str]  # the address it replaced (absent from the changes recorded before it was kept)
    version: int  # the enrolment's version then: the change is the address in force until a save


class _EnrolmentBase(TypedDict):
    id: str
    key: str  # "<account id>:<session name>", unique
    account_id: str
    session: str
    status: str  # rules.STATUS_SAVED | rules.STATUS_COMPLETE
    version: int  # 0 before the first « Enregistrer »
    data: dict[str, Any]  # the form's fields, see rules.LABELS
    created_at: str
    updated_at: str
    history: list[HistoryEntry]
    files: list[EnrolmentFile]
    address_changes: list[AddressChange]


class Enrolment(_EnrolmentBase, total=False):
    completed_at: str
    receipt: Receipt
    review: Review  # the exam office's check (review.rules); absent until its first action
    email: str  # the account's, copied at the first save: the office searches by it
    number: str  # the registration number, readable and dictated on the phone (« 2026-000123 »)
    # Derived on every write by the repository (review.listing), indexed for the office's list:
    speciality: str | None
    state: str | None
    pieces_state: str | None
    waiting: str | None
    sort_key: str
    words: list[str]
    saved_on: str | None  # the statistics' (review.listing.statistics_fields)
    deposited_on: str | None
    decided_in: int | None
    refusals: str | None
    reminders: dict[str, str]  # reminders mailed (reporting.reminders): occasion -> when


# -- the mail outbox ----------------------------------------------------------------------------
class OutboxMail(TypedDict):
    """A mail to deliver, recorded in the same atomic step as the change that causes it. Deleted
    once the relay accepted it; ``failed`` ones stay for the operator (``formservice mail status``)."""

    id: str
    state: str  # "pending" | "failed"
    to: str
    reply_to: str | None
    subject: str
    text: str
    html: str | None
    message_id: str  # stable: a mail sent again after a crash is the same mail for its reader
    created_at: str
    attempts: int
    next_attempt_at: str
    last_error: str | None


# -- staff: the exam office's back office --------------------------------------------------------
class RecoveryCode(TypedDict):
    """One single-use recovery code, as stored: never the code itself."""

    hash: str  # HMAC-SHA256 (hex) of the normalised code, keyed by the server's key
    used_at: str | None


class Staff(TypedDict):
    """A member of the exam office (``staff.rules``). Invited first, active once the password
    and TOTP are set through the invitation link, disabled for good by an administrateur."""

    id: str
    email: str  # normalised like a candidate's (accounts.rules.normalize_email), unique
    role: str  # "gestionnaire" | "administrateur"
    poles: list[str]  # the pôle ids of the notice; empty for an administrateur (every pôle)
    status: str  # "invited" | "active" | "disabled"
    password_hash: str | None  # argon2id; None until the invitation is used
    totp_secret: str | None  # base32 (RFC 6238); None until the invitation is used
    totp_last_step: int  # the last accepted TOTP time step: a code is accepted once
    recovery_codes: list[RecoveryCode]
    invited_at: str
    invited_by: str | None  # a staff id; None: the command line
    activated_at: str | None
    disabled_at: str | None
    disabled_by: str | None  # a staff id; None: the command line (or not disabled)
    created_at: str


class StaffSession(TypedDict):
    id: str  # SHA-256 of the staff cookie's value: the cookie itself is never stored
    staff_id: str
    created_at: str
    last_seen: str


# -- review: the exam office's check of a dossier (formservice.review) --------------------------
class PieceDecision(TypedDict):
    """The office's decision on one required supporting document of a dossier."""

    document_id: str
    decision: str  # review.rules.CONFORME | NON_CONFORME | NON_CONCERNE
    reason_id: str | None  # an id of the notice's review.refusal_reasons (non_conforme only)
    comment: str  # free text to the candidate, "" if none (never in the history)
    files: list[str]  # ids of the files decided on: a file added or removed since makes it stale
    at: str
    staff_id: str


class Correction(TypedDict):
    """A correction request: the refused pieces and the deadline to replace them."""

    requested_at: str
    staff_id: str
    deadline: str  # the last second of the last day (23:59:59 in the notice's time zone)
    pieces: list[str]  # the document ids refused by this request
    confirmed_at: str | None  # « J'ai effectué les corrections demandées »


class HistoryEvent(TypedDict):
    """One event of the dossier's history, chained to the previous one by ``hash``."""

    at: str
    actor: str  # "candidate" | "staff"
    actor_id: str  # the account id of the candidate, or the staff id
    action: str  # review.states.Action, or "decide", "note", "replace_file", "remove_file"
    details: dict[str, Any]  # ids and states only: no free text, no personal data
    hash: str  # SHA-256 of the previous event's hash and this event (review.rules.history_intact)


class Note(TypedDict):
    """A private note of the office on a dossier: never shown to the candidate."""

    id: str
    at: str
    staff_id: str
    text: str


class Review(TypedDict):
    state: str  # review.states.State; brouillon and déposé are read from the enrolment's status
    pieces: dict[str, PieceDecision]  # by document id
    corrections: list[Correction]  # oldest first; the last one is the one in force
    ineligibility_reason: str | None  # an id of the notice's review.ineligibility_reasons
    history: list[HistoryEvent]
    notes: list[Note]
    updated_at: str
