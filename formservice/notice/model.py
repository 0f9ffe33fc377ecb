"""The typed schema of notice.yml and its loader.

Editors are not programmers: every problem in the file is reported at once, each as
``notice.yml, ligne N : champ : phrase en français``. The same model feeds the MkDocs build
(site_hook.py) and the form service, so a fact is typed once, in the YAML.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from formservice.frenchdates import date_fr, datetime_fr
from formservice.notice.yamldoc import YamlDocument, YamlSyntaxError, compose

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]*$"
EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
PLACEHOLDER_RE = re.compile(r"\{\{\s*([A-Za-z_]+)\s*\}\}")
PLACEHOLDERS = ("opens", "closes", "documents_deadline", "activation_hours", "previous_session")


def _local_datetime(value: Any) -> Any:
    """Dates are written '2025-11-13 19:00' (local time, interpreted in `timezone`)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, str):
        for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"):
            try:
                return datetime.strptime(value.strip(), fmt)
            except ValueError:
                continue
        raise ValueError(
            f"« {value} » n'est pas une date avec heure lisible : écrivez-la AAAA-MM-JJ HH:MM "
            "(par exemple 2025-11-13 19:00)"
        )
    if isinstance(value, date):
        raise ValueError("il manque l'heure : écrivez AAAA-MM-JJ HH:MM (par exemple 2025-11-13 19:00)")
    return value


def _phone(value: Any) -> Any:
    if isinstance(value, str):
        digits = re.sub(r"[\s.\-]", "", value)
        if digits.startswith("+33"):
            digits = "0" + digits[3:]
        if not re.fullmatch(r"0[1-9]\d{8}", digits):
            raise ValueError(
                f"« {value} » n'est pas un numéro de téléphone français à 10 chiffres "
                '(par exemple "05 16 52 64 55")'
            )
        return " ".join(digits[i : i + 2] for i in range(0, 10, 2))
    return value


def _email(value: Any) -> Any:
    if isinstance(value, str) and not EMAIL_RE.match(value.strip()):
        raise ValueError(f"« {value} » n'est pas une adresse électronique valide")
    return value.strip() if isinstance(value, str) else value


def _url(value: Any) -> Any:
    if isinstance(value, str) and not re.match(r"^https?://[^\s/]+\.[^\s]+$", value.strip()):
        raise ValueError(f"« {value} » n'est pas une adresse de site (elle doit commencer par https://)")
    return value.strip() if isinstance(value, str) else value


LocalDateTime = Annotated[datetime, BeforeValidator(_local_datetime)]
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
    steps: Annotated[list[Step], Field(min_length=1)]

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


# ---------------------------------------------------------------------------------------
# Errors


class NoticeProblem(BaseModel):
    line: int
    field: str
    message: str


class NoticeError(Exception):
    """Every problem found in notice.yml, each with its line and a sentence an editor reads."""

    def __init__(self, filename: str, problems: list[NoticeProblem]):
        self.filename = filename
        self.problems = sorted(problems, key=lambda p: (p.line, p.field))
        super().__init__(self.report())

    def lines(self) -> list[str]:
        return [
            f"{self.filename}, ligne {p.line} : {p.field or '(fichier)'} : {p.message}" for p in self.problems
        ]

    def report(self) -> str:
        return "\n".join(self.lines())


def _field_name(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part + 1}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _model_at(path: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that owns the mapping at `path`, to list the keys an editor may use."""
    import typing

    model: Any = Notice
    for part in path:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or part not in model.model_fields:
            return None
        ann = model.model_fields[part].annotation
        while True:
            origin = typing.get_origin(ann)
            args = [a for a in typing.get_args(ann) if a is not type(None)]
            if origin is Annotated or origin in (list, typing.Union) or str(origin) == "types.UnionType":
                ann = args[0] if args else None
                continue
            break
        model = ann
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _describe(err: Any, doc: YamlDocument) -> tuple[tuple[Any, ...], str]:
    loc = tuple(err["loc"])
    kind = err["type"]
    scalar = doc.scalar(loc)
    if kind == "missing":
        return loc, "champ obligatoire absent : ajoutez-le"
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        allowed = ", ".join(model.model_fields) if model else ""
        hint = f" ; clés attendues : {allowed}" if allowed else ""
        return loc, f"clé inconnue (faute de frappe ?){hint}"
    if kind == "string_type" and scalar is not None and scalar.plain:
        if scalar.tag.endswith(":int") or scalar.tag.endswith(":float"):
            return loc, (
                f"« {scalar.raw} » a été lu comme un nombre (un 0 en tête est perdu) : "
                f'écrivez-le entre guillemets, "{scalar.raw}"'
            )
        if scalar.tag.endswith(":bool"):
            return loc, (
                f"« {scalar.raw} » a été lu comme oui/non (vrai/faux), pas comme un texte : "
                f'écrivez-le entre guillemets, "{scalar.raw}"'
            )
        if scalar.tag.endswith(":null"):
            return loc, "valeur vide : écrivez un texte"
    if kind == "string_type":
        return loc, "un texte est attendu ici"
    if kind == "string_too_short":
        return loc, "ce texte ne peut pas être vide"
    if kind == "string_pattern_mismatch":
        return loc, "identifiant invalide : lettres sans accent, chiffres et tirets seulement"
    if kind == "string_too_long":
        return loc, "texte trop long"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return loc, "un nombre entier est attendu ici (sans guillemets)"
    if kind in ("greater_than_equal", "greater_than"):
        return loc, f"valeur trop petite (minimum {err['ctx'].get('ge', err['ctx'].get('gt'))})"
    if kind in ("less_than_equal", "less_than"):
        return loc, f"valeur trop grande (maximum {err['ctx'].get('le', err['ctx'].get('lt'))})"
    if kind == "bool_type":
        return loc, "true ou false est attendu ici"
    if kind == "list_type":
        return loc, "une liste est attendue ici (des lignes commençant par « - »)"
    if kind == "too_short":
        return loc, "la liste ne peut pas être vide"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return loc, "un bloc de clés est attendu ici"
    if kind in ("date_type", "date_parsing", "date_from_datetime_inexact"):
        return loc, "une date est attendue ici, au format AAAA-MM-JJ"
    if kind in ("datetime_type", "datetime_parsing"):
        return loc, "une date avec heure est attendue ici : AAAA-MM-JJ HH:MM"
    if kind == "literal_error":
        return loc, f"valeur inconnue ; valeurs possibles : {err['ctx']['expected']}"
    if kind == "value_error":
        return loc, str(err["ctx"]["error"])
    return loc, f"valeur invalide ({err['msg']})"


def _cross_checks(data: Any) -> list[tuple[tuple[Any, ...], str]]:
    """Rules spanning several fields, run on the raw data so they add to, not replace,
    the field errors: an editor sees everything wrong in one run."""
    found: list[tuple[tuple[Any, ...], str]] = []
    if not isinstance(data, dict):
        return found

    def items(key: str) -> list[tuple[int, dict[str, Any]]]:
        value = data.get(key)
        return [(i, v) for i, v in enumerate(value) if isinstance(v, dict)] if isinstance(value, list) else []

    tz_name = data.get("timezone")
    tz: ZoneInfo | None = None
    if isinstance(tz_name, str):
        try:
            tz = ZoneInfo(tz_name)
        except (ZoneInfoNotFoundError, ValueError):
            found.append((("timezone",), f"fuseau horaire inconnu « {tz_name} » (par exemple Europe/Paris)"))

    reg = data.get("registration")
    if isinstance(reg, dict):
        times: dict[str, datetime] = {}
        for key in ("opens", "closes", "documents_deadline"):
            try:
                value = _local_datetime(reg.get(key))
            except ValueError:
                continue
            if isinstance(value, datetime):
                times[key] = value
                if tz is not None:
                    # A local time skipped or repeated by a daylight-saving change is ambiguous.
                    there = value.replace(tzinfo=tz)
                    back = there.astimezone(ZoneInfo("UTC")).astimezone(tz).replace(tzinfo=None)
                    ambiguous = value.replace(tzinfo=tz, fold=1).utcoffset() != there.utcoffset()
                    if back != value or ambiguous:
                        found.append(
                            (
                                ("registration", key),
                                "cette heure n'existe pas ou existe deux fois à cause du "
                                "changement d'heure : choisissez une autre heure",
                            )
                        )
        if "opens" in times and "closes" in times and times["closes"] <= times["opens"]:
            found.append(
                (("registration", "closes"), "la clôture doit être postérieure à l'ouverture (opens)")
            )
        if (
            "opens" in times
            and "documents_deadline" in times
            and times["documents_deadline"] <= times["opens"]
        ):
            found.append(
                (
                    ("registration", "documents_deadline"),
                    "la date limite des pièces doit être après l'ouverture",
                )
            )

    def duplicates(key: str, entries: list[tuple[tuple[Any, ...], Any]], what: str) -> None:
        seen: set[Any] = set()
        for path, value in entries:
            if not isinstance(value, str):
                continue
            if value in seen:
                found.append((path, f"identifiant « {value} » en double : chaque {what} doit avoir le sien"))
            seen.add(value)

    pole_ids = {p.get("id") for _, p in items("poles")}
    exam_ids = {e.get("id") for _, e in items("exams")}
    duplicates("poles", [(("poles", i, "id"), p.get("id")) for i, p in items("poles")], "pôle")
    duplicates("exams", [(("exams", i, "id"), e.get("id")) for i, e in items("exams")], "examen")
    duplicates("documents", [(("documents", i, "id"), d.get("id")) for i, d in items("documents")], "pièce")
    duplicates(
        "downloads", [(("downloads", i, "id"), d.get("id")) for i, d in items("downloads")], "document"
    )
    duplicates("steps", [(("steps", i, "id"), s.get("id")) for i, s in items("steps")], "étape")
    specs: list[tuple[tuple[Any, ...], Any]] = []
    for i, exam in items("exams"):
        value = exam.get("specialities")
        for j, spec in enumerate(value if isinstance(value, list) else []):
            if not isinstance(spec, dict):
                continue
            specs.append((("exams", i, "specialities", j, "id"), spec.get("id")))
            pole = spec.get("pole")
            if isinstance(pole, str) and pole not in pole_ids:
                found.append(
                    (
                        ("exams", i, "specialities", j, "pole"),
                        f"pôle « {pole} » inconnu ; pôles déclarés : {', '.join(sorted(map(str, pole_ids)))}",
                    )
                )
    duplicates("specialities", specs, "spécialité")
    for i, doc in items("documents"):
        exams = doc.get("exams")
        for j, exam in enumerate(exams if isinstance(exams, list) else []):
            if isinstance(exam, str) and exam not in exam_ids:
                found.append(
                    (
                        ("documents", i, "exams", j),
                        f"examen « {exam} » inconnu ; examens déclarés : "
                        + ", ".join(sorted(map(str, exam_ids))),
                    )
                )
    for i, step in items("steps"):
        body = step.get("body")
        if isinstance(body, str):
            for name in PLACEHOLDER_RE.findall(body):
                if name not in PLACEHOLDERS:
                    found.append(
                        (
                            ("steps", i, "body"),
                            f"{{{{ {name} }}}} inconnu ; valeurs possibles : {', '.join(PLACEHOLDERS)}",
                        )
                    )
    return found


def parse_notice(text: str, filename: str = "notice.yml") -> Notice:
    """Validate the YAML text; raise NoticeError listing every problem."""
    try:
        doc = compose(text)
    except YamlSyntaxError as exc:
        raise NoticeError(filename, [NoticeProblem(line=exc.line, field="", message=exc.message)]) from None
    problems = [NoticeProblem(line=line, field="", message=message) for line, message in doc.problems]
    notice: Notice | None = None
    try:
        notice = Notice.model_validate(doc.data)
    except ValidationError as exc:
        for err in exc.errors():
            loc, message = _describe(err, doc)
            problems.append(NoticeProblem(line=doc.line(loc), field=_field_name(loc), message=message))
    for loc, message in _cross_checks(doc.data):
        problems.append(NoticeProblem(line=doc.line(loc), field=_field_name(loc), message=message))
    if problems or notice is None:
        raise NoticeError(filename, problems)
    return notice


def load_notice(path: str | Path) -> Notice:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NoticeError(
            path.name, [NoticeProblem(line=1, field="", message="fichier introuvable")]
        ) from None
    except UnicodeDecodeError:
        raise NoticeError(
            path.name, [NoticeProblem(line=1, field="", message="le fichier doit être enregistré en UTF-8")]
        ) from None
    return parse_notice(text, path.name)


def notice_to_json(notice: Notice) -> dict[str, Any]:
    return notice.model_dump(mode="json")


def notice_from_json(data: dict[str, Any]) -> Notice:
    """The inverse of notice_to_json. Validated in JSON mode: the model is strict, and only JSON
    mode lets strict fields read dates back from their ISO strings."""
    return Notice.model_validate_json(json.dumps(data))
