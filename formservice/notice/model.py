"""The typed schema of notice.yml: one pydantic model per block, and the checks of one value.

A value's own rules (a phone number, an e-mail address, a local date with time) live here, with
the French sentence an editor reads when they fail. Rules spanning several fields are in
``validation``, the wording of pydantic's errors in ``wording`` and the loader in ``loading``.
The same model feeds the MkDocs build (``site/hook.py``) and the form service, so a fact is
typed once, in the YAML.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from formservice.frenchdates import date_fr, datetime_fr
from formservice.notice.dates import impossible_date
from formservice.phones import format_phone

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]*$"
EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
PLACEHOLDER_RE = re.compile(r"\{\{\s*([A-Za-z_]+)\s*\}\}")
PLACEHOLDERS = ("opens", "closes", "documents_deadline", "activation_hours", "previous_session")


# The years a registration may open or close in. Beyond the time it names, a date with time must
# exist in every time zone: year 1 or 9999 would overflow once converted, in the checks and later.
YEARS = range(2000, 2101)
LOCAL_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S")


def _strptime(text: str) -> datetime | None:
    for fmt in LOCAL_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def _plausible(value: datetime) -> datetime:
    if value.year not in YEARS:
        raise ValueError(
            f"l'année {value.year:04d} n'est pas plausible : écrivez une année entre "
            f"{YEARS.start} et {YEARS.stop - 1}"
        )
    return value


def local_datetime(value: Any) -> Any:
    """Dates are written '2025-11-13 19:00' (local time, interpreted in `timezone`): a naive
    datetime from such a text; ValueError with the editor's sentence if it is not one, names a
    day or a time that does not exist, or a year out of `YEARS`."""
    if isinstance(value, datetime):
        return _plausible(value.replace(tzinfo=None))
    if isinstance(value, str):
        parsed = _strptime(value.strip())
        if parsed is None:
            raise ValueError(
                impossible_date(value)
                or f"« {value} » n'est pas une date avec heure lisible : écrivez-la AAAA-MM-JJ HH:MM "
                "(par exemple 2025-11-13 19:00)"
            )
        return _plausible(parsed)
    if isinstance(value, date):
        raise ValueError("il manque l'heure : écrivez AAAA-MM-JJ HH:MM (par exemple 2025-11-13 19:00)")
    return value


def normalise_phone(value: str) -> str:
    """A French phone number written as ``05 16 52 64 55``, from any spacing, dots or dashes and
    from the ``+33`` form. ValueError, with the sentence shown to the notice's editor, if it is
    not a 10-digit French number (other international numbers are refused)."""
    display = format_phone(value)
    if display is None:
        raise ValueError(
            f"« {value} » n'est pas un numéro de téléphone français à 10 chiffres "
            '(par exemple "05 16 52 64 55")'
        )
    return display


def _phone(value: Any) -> Any:
    """A text is normalised; anything else is left to the strict `str` check (a YAML trap)."""
    return normalise_phone(value) if isinstance(value, str) else value


def _email(value: Any) -> Any:
    if isinstance(value, str) and not EMAIL_RE.match(value.strip()):
        raise ValueError(f"« {value} » n'est pas une adresse électronique valide")
    return value.strip() if isinstance(value, str) else value


def _url(value: Any) -> Any:
    if isinstance(value, str) and not re.match(r"^https?://[^\s/]+\.[^\s]+$", value.strip()):
        raise ValueError(f"« {value} » n'est pas une adresse de site (elle doit commencer par https://)")
    return value.strip() if isinstance(value, str) else value


LocalDateTime = Annotated[datetime, BeforeValidator(local_datetime)]
Phone = Annotated[str, BeforeValidator(_phone)]
Email = Annotated[str, BeforeValidator(_email)]
Url = Annotated[str, BeforeValidator(_url)]
Id = Annotated[str, Field(pattern=ID_PATTERN, max_length=60)]
Text = Annotated[str, Field(min_length=1)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Academie(Model):
    name: Text
    website: Url
    website_section: Text
    national_portal: Url
    service_name: Text


class Session(Model):
    name: Text
    exam_month: Text
    previous_session: Text
    audience: Text


class Registration(Model):
    opens: LocalDateTime
    closes: LocalDateTime
    documents_deadline: LocalDateTime
    activation_hours: Annotated[int, Field(ge=1, le=720)]
    age_reference_date: date


class Pole(Model):
    id: Id
    name: Text
    phones: Annotated[list[Phone], Field(min_length=1)]
    email: Email

    @property
    def tel_uris(self) -> list[tuple[str, str]]:
        """(display, tel: URI) pairs, in international form for phones abroad."""
        return [(p, "tel:+33" + p.replace(" ", "")[1:]) for p in self.phones]


class Speciality(Model):
    id: Id
    name: Text
    level: Annotated[int, Field(ge=3, le=5)]
    pole: Id


class Exam(Model):
    id: Id
    name: Text
    specialities: Annotated[list[Speciality], Field(min_length=1)]


class Download(Model):
    id: Id
    name: Text


Status = Literal["individuel", "distance"]


class Condition(Model):
    age_below: Annotated[int, Field(ge=1, le=120)] | None = None
    status: Status | None = None
    accommodation: bool | None = None


class Document(Model):
    id: Id
    name: Text
    exams: Annotated[list[Id], Field(min_length=1)]
    condition: Condition | None = None
    example: bool = False


class Uploads(Model):
    max_file_mb: Annotated[int, Field(ge=1, le=100)]
    max_files_per_document: Annotated[int, Field(ge=1, le=20)]
    max_files_total: Annotated[int, Field(ge=1, le=200)]
    max_total_mb: Annotated[int, Field(ge=1, le=2000)]


REASON_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
MAX_LABEL = 200  # a reason's label goes into mails and onto the candidate's page


def _reason_id(value: Any) -> Any:
    """A reason's identifier (``illisible``, ``non_conforme``): stored in every decision, so it is
    written in lower case, without accents or spaces; anything but a text is left to the strict
    ``str`` check (a YAML trap)."""
    if isinstance(value, str) and not (REASON_ID_RE.match(value) and len(value) <= 60):
        raise ValueError(
            f"identifiant « {value} » invalide : lettres minuscules sans accent, chiffres, tirets "
            "et soulignés (_) seulement, 60 caractères au plus (par exemple non_conforme)"
        )
    return value


def _label(value: Any) -> Any:
    """A text shown to the candidate: not blank, and short enough for a line of a mail."""
    if isinstance(value, str):
        if not value.strip():
            raise ValueError("ce texte ne peut pas être vide")
        if len(value.strip()) > MAX_LABEL:
            raise ValueError(f"texte trop long ({len(value.strip())} caractères, {MAX_LABEL} au plus)")
        return value.strip()
    return value


ReasonId = Annotated[str, BeforeValidator(_reason_id)]
Label = Annotated[str, BeforeValidator(_label)]


class Reason(Model):
    """A reason the office may give: for a refused piece, or for a dossier declared irrecevable."""

    id: ReasonId
    label: Label


class Review(Model):
    """How the exam office checks the dossiers: the correction delay and the reasons it gives."""

    correction_days: Annotated[int, Field(ge=1, le=60)]
    refusal_reasons: Annotated[list[Reason], Field(min_length=1)]
    ineligibility_reasons: Annotated[list[Reason], Field(min_length=1)]

    def refusal_reason(self, reason_id: str) -> Reason | None:
        return next((r for r in self.refusal_reasons if r.id == reason_id), None)

    def ineligibility_reason(self, reason_id: str) -> Reason | None:
        return next((r for r in self.ineligibility_reasons if r.id == reason_id), None)


class Reminders(Model):
    """When the service mails a reminder (``formservice reminders`` and the running service)."""

    before_closing: list[Annotated[int, Field(ge=1, le=60)]]
    before_correction_deadline: list[Annotated[int, Field(ge=1, le=60)]]
    activation_hours_before_purge: Annotated[int, Field(ge=1, le=719)]


class SessionEnd(Model):
    name: Text
    ends: date


class Retention(Model):
    """How long the service keeps what it holds (``formservice retention``, the privacy page)."""

    months: Annotated[int, Field(ge=1, le=120)]
    sessions: Annotated[list[SessionEnd], Field(min_length=1)]
    inactive_after_sessions: Annotated[int, Field(ge=1, le=10)]
    warning_days: Annotated[int, Field(ge=1, le=90)]
    audit_log_months: Annotated[int, Field(ge=1, le=120)]

    def session_end(self, name: str) -> date | None:
        return next((s.ends for s in self.sessions if s.name == name), None)

    def deleted_on(self, name: str) -> date | None:
        """The day a session's dossiers, files and accounts are deleted: ``months`` after its end."""
        end = self.session_end(name)
        if end is None:
            return None
        year, month = divmod(end.month - 1 + self.months, 12)
        year, month = end.year + year, month + 1
        return date(year, month, min(end.day, calendar.monthrange(year, month)[1]))

    def last_sessions(self) -> list[SessionEnd]:
        """The ``inactive_after_sessions`` most recent sessions, newest first."""
        return sorted(self.sessions, key=lambda s: s.ends, reverse=True)[: self.inactive_after_sessions]


class DataCategory(Model):
    name: Text
    details: Text
    sensitive: bool = False


class Dpo(Model):
    name: Text
    email: Email
    address: Text


class Privacy(Model):
    """What the page « Données personnelles » says: the office's facts, none typed in a template."""

    controller: Text
    purpose: Text
    legal_basis: Text
    health_legal_basis: Text
    categories: Annotated[list[DataCategory], Field(min_length=1)]
    recipients: Text
    dpo: Dpo
    complaint_authority: Text
    complaint_url: Url


AccessibilityStatus = Literal["non conforme", "partiellement conforme", "totalement conforme"]


class Recourse(Model):
    """Where a candidate who could not get an answer about accessibility may turn."""

    name: Text
    url: Url
    phone: Phone
    address: Text


class Accessibility(Model):
    """The accessibility statement (« Déclaration d'accessibilité ») of the service, as the law
    (article 47 of loi n° 2005-102) and the RGAA ask: the state of conformity, the date, what is
    known not to be accessible, how to get help and where to complain."""

    status: AccessibilityStatus
    rgaa_version: Text
    established: date  # the date of the statement
    audit: str = ""  # the audit it rests on; empty: none yet (the status is then « non conforme »)
    non_compliant: list[Text] = []
    recourse: Recourse


class Legal(Model):
    """« Mentions légales »: who publishes the service, who answers for it, who hosts it."""

    publisher: Text
    address: Text
    director: Text  # « Directeur ou directrice de la publication »
    host: Text
    host_address: Text
    example: bool = False  # true: facts given as examples, the exam office must confirm them
    accessibility: Accessibility


class Step(Model):
    id: Id
    title: Text
    body: Text
    skip_if_returning: bool = False


class Notice(Model):
    timezone: Text
    academie: Academie
    session: Session
    registration: Registration
    poles: Annotated[list[Pole], Field(min_length=1)]
    exams: Annotated[list[Exam], Field(min_length=1)]
    downloads: list[Download]
    documents: list[Document]
    uploads: Uploads
    review: Review
    reminders: Reminders
    retention: Retention
    privacy: Privacy
    steps: Annotated[list[Step], Field(min_length=1)]
    legal: Legal

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, ignored_types=(cached_property,))

    # -- time -----------------------------------------------------------------------------
    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def local(self, naive: datetime) -> datetime:
        return naive.replace(tzinfo=self.tz)

    @property
    def opens_at(self) -> datetime:
        return self.local(self.registration.opens)

    @property
    def closes_at(self) -> datetime:
        return self.local(self.registration.closes)

    @property
    def documents_deadline_at(self) -> datetime:
        return self.local(self.registration.documents_deadline)

    @property
    def activation_delay(self) -> timedelta:
        return timedelta(hours=self.registration.activation_hours)

    # -- lookups --------------------------------------------------------------------------
    def pole(self, pole_id: str) -> Pole | None:
        return next((p for p in self.poles if p.id == pole_id), None)

    def exam(self, exam_id: str) -> Exam | None:
        return next((e for e in self.exams if e.id == exam_id), None)

    def speciality(self, speciality_id: str) -> tuple[Exam, Speciality] | None:
        for exam in self.exams:
            for spec in exam.specialities:
                if spec.id == speciality_id:
                    return exam, spec
        return None

    def specialities_of_pole(self, pole_id: str) -> list[tuple[Exam, Speciality]]:
        return [(e, s) for e in self.exams for s in e.specialities if s.pole == pole_id]

    def documents_for_exam(self, exam_id: str) -> list[Document]:
        return [d for d in self.documents if exam_id in d.exams]

    # -- text -----------------------------------------------------------------------------
    def condition_text(self, document: Document) -> str:
        """When a supporting document is required, in words a candidate understands; shared
        by the notice site and the candidate's space so both say it the same way."""
        cond = document.condition
        if cond is None:
            return "pour tous les candidats"
        parts = []
        if cond.age_below is not None:
            when = date_fr(self.registration.age_reference_date, weekday=False)
            parts.append(f"si vous avez moins de {cond.age_below} ans au {when}")
        if cond.status == "distance":
            parts.append("si vous êtes inscrit ou inscrite à une formation d'enseignement à distance")
        elif cond.status == "individuel":
            parts.append("si vous vous présentez en candidat individuel")
        if cond.accommodation is True:
            parts.append("si vous demandez des aménagements d'épreuves")
        elif cond.accommodation is False:
            parts.append("si vous ne demandez pas d'aménagements d'épreuves")
        return " et ".join(parts) or "pour tous les candidats"

    def placeholders(self) -> dict[str, str]:
        return {
            "opens": datetime_fr(self.registration.opens),
            "closes": datetime_fr(self.registration.closes),
            "documents_deadline": datetime_fr(self.registration.documents_deadline),
            "activation_hours": str(self.registration.activation_hours),
            "previous_session": self.session.previous_session,
        }

    def step_body(self, step: Step) -> str:
        values = self.placeholders()
        return PLACEHOLDER_RE.sub(lambda m: values[m.group(1)], step.body)
