"""Each editor mistake in notice.yml is reported with its line, stops `check` and `publish`, and
leaves the published site alone; each cross-field rule (formservice.notice.validation) has a case
that checks its whole French sentence. The bad files are made by editing one line of the real
notice.yml, and the expected values are derived from the model, so the cases follow the file as
it evolves."""

from __future__ import annotations

import calendar
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from site_fixtures import NOTICE, ROOT, published_site, snapshot

from formservice.notice import Notice, NoticeError, load_notice, normalise_phone, parse_notice
from formservice.notice.loading import MAX_BYTES
from formservice.notice.validation import RULES
from formservice.notice.yamldoc import MAX_VALUES

GOOD_TEXT = NOTICE.read_text(encoding="utf-8")
MODEL = load_notice(NOTICE)


@dataclass(frozen=True)
class Case:
    """Replace the first line whose content is `old` (after the line containing `after`) by `new`."""

    id: str
    old: str
    new: str | None  # None deletes the line
    field: str
    message: str
    after: str | None = None
    reported_at: str | None = None  # content of the reported line (after `after`) if not the edited one
    rule: str | None = None  # the cross-field rule of formservice.notice.validation it breaks


def edit(text: str, case: Case) -> tuple[str, int]:
    """The edited text and the 1-based line number the error must point at."""
    lines = text.splitlines(keepends=True)
    start = 0
    if case.after is not None:
        start = next(i for i, line in enumerate(lines) if case.after in line)
    index = next(i for i in range(start, len(lines)) if lines[i].strip() == case.old)
    indent = lines[index][: len(lines[index]) - len(lines[index].lstrip())]
    if case.new is None:
        del lines[index]
    else:
        lines[index] = indent + case.new + "\n"
    reported = index + 1
    lines = "".join(lines).splitlines(keepends=True)  # `new` may be several lines
    if case.reported_at is not None:
        reported = next(i for i in range(start, len(lines)) if lines[i].strip() == case.reported_at) + 1
    return "".join(lines), reported


def _cases() -> list[Case]:
    reg, sah, first_pole = MODEL.registration, MODEL.poles[1], MODEL.poles[0]
    exam = MODEL.exams[0]
    spec_a, spec_b = exam.specialities[0], exam.specialities[1]
    digits = first_pole.phones[0].replace(" ", "")
    before_opening = reg.opens - timedelta(days=1)
    return [
        Case(
            "syntax",
            old=f"name: {MODEL.academie.name}",
            new=f"name: {MODEL.academie.name}: oups",
            field="(fichier)",
            message="syntaxe YAML incorrecte",
        ),
        Case(
            "missing-key",
            old=f"activation_hours: {reg.activation_hours}",
            new=None,
            field="registration.activation_hours",
            message="champ obligatoire absent",
            reported_at="registration:",
        ),
        Case(
            "unknown-key",
            old=f"email: {sah.email}",
            new=f"emial: {sah.email}",
            field="poles[2].emial",
            message="clé inconnue",
        ),
        Case(
            "closes-before-opens",
            old=f"closes: {reg.closes:%Y-%m-%d %H:%M}",
            new=f"closes: {before_opening:%Y-%m-%d %H:%M}",
            field="registration.closes",
            message="la clôture doit être postérieure à l'ouverture",
            rule="closes_after_opens",
        ),
        Case(
            "unknown-pole",
            old=f"pole: {spec_a.pole}",
            new=f"pole: {spec_a.pole}-inconnu",
            field="exams[1].specialities[1].pole",
            message=f"pôle « {spec_a.pole}-inconnu » inconnu",
            after=f"id: {spec_a.id}",
            rule="specialities_have_known_poles",
        ),
        Case(
            "duplicate-id",
            old=f"- id: {spec_b.id}",
            new=f"- id: {spec_a.id}",
            field="exams[1].specialities[2].id",
            message=f"identifiant « {spec_a.id} » en double",
            rule="unique_speciality_ids",
        ),
        Case(
            "bad-email",
            old=f"email: {sah.email}",
            new=f"email: {sah.email.replace('@', '.')}",
            field="poles[2].email",
            message="n'est pas une adresse électronique valide",
        ),
        Case(
            "bad-phone",
            old=f"phones: {json.dumps(sah.phones)}",
            new=f"phones: {json.dumps([sah.phones[0][:-3], *sah.phones[1:]])}",
            field="poles[2].phones[1]",
            message="n'est pas un numéro de téléphone français",
        ),
        Case(
            "unquoted-phone",
            old=f"phones: {json.dumps(first_pole.phones)}",
            new=f"phones: [{digits}{''.join(', ' + json.dumps(p) for p in first_pole.phones[1:])}]",
            field="poles[1].phones[1]",
            message=f"« {digits} » a été lu comme un nombre",
        ),
        Case(
            "correction-days-zero",
            old=f"correction_days: {MODEL.review.correction_days}",
            new="correction_days: 0",
            field="review.correction_days",
            message="valeur trop petite (minimum 1)",
        ),
        Case(
            "no-read-as-false",
            old=f"website_section: {MODEL.academie.website_section}",
            new="website_section: no",
            field="academie.website_section",
            message="« no » a été lu comme oui/non",
        ),
    ]


CASES = _cases()


def _first_changed_time(zone: ZoneInfo, after: datetime, *, skipped: bool) -> datetime:
    """The first local half hour after `after` that a change of time in `zone` skips (spring)
    or, if not `skipped`, lives twice (autumn)."""
    for n in range(1, 2 * 24 * 366):
        local = after + timedelta(minutes=30 * n)
        aware = local.replace(tzinfo=zone)
        if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != local:
            if skipped:
                return local
        elif not skipped and local.replace(tzinfo=zone, fold=1).utcoffset() != aware.utcoffset():
            return local
    raise AssertionError(f"no change of time in {zone} within a year of {after}")


def _duplicate_id_case(what: str, key: str, entries: list[Any], entry_name: str) -> Case:
    """The second entry of the list `key` given the first one's id."""
    first, second = entries[0].id, entries[1].id
    return Case(
        f"duplicate-{what}-id",
        old=f"- id: {second}",
        new=f"- id: {first}",
        field=f"{key}[2].id",
        message=f"identifiant « {first} » en double : chaque {entry_name} doit avoir le sien",
        after=f"{key}:",
        rule=f"unique_{what}_ids",
    )


def _step_placeholder_case() -> Case:
    """A {{ }} value misspelt in the first step whose text uses one."""
    index, step = next((i, s) for i, s in enumerate(MODEL.steps) if "{{" in s.body)
    old = next(line.strip() for line in step.body.splitlines() if "{{" in line)
    name = old.split("{{", 1)[1].split("}}", 1)[0].strip()
    lines = GOOD_TEXT.splitlines()
    start = next(i for i, line in enumerate(lines) if f"id: {step.id}" in line)
    body_key = next(line.strip() for line in lines[start:] if line.strip().startswith("body:"))
    return Case(
        "unknown-placeholder",
        old=old,
        new=old.replace(name, f"{name}_inconnu", 1),
        field=f"steps[{index + 1}].body",
        message=f"{{{{ {name}_inconnu }}}} inconnu ; valeurs possibles : "
        "opens, closes, documents_deadline, activation_hours, previous_session",
        after=f"id: {step.id}",
        reported_at=body_key,
        rule="steps_use_known_placeholders",
    )


def _rule_cases() -> list[Case]:
    """One mistake per cross-field rule not already among CASES, with the whole sentence."""
    reg, document = MODEL.registration, MODEL.documents[0]
    changed_time = (
        "cette heure n'existe pas ou existe deux fois à cause du changement d'heure : "
        "choisissez une autre heure"
    )
    lived_twice = _first_changed_time(MODEL.tz, reg.opens, skipped=False)
    skipped = _first_changed_time(MODEL.tz, reg.opens, skipped=True)
    unknown_exam = "-".join(e.id for e in MODEL.exams) + "-inconnu"
    return [
        Case(
            "unknown-timezone",
            old=f"timezone: {MODEL.timezone}",
            new="timezone: Europe/Atlantide",
            field="timezone",
            message="fuseau horaire inconnu « Europe/Atlantide » (par exemple Europe/Paris)",
            rule="known_timezone",
        ),
        Case(
            "closing-lived-twice",
            old=f"closes: {reg.closes:%Y-%m-%d %H:%M}",
            new=f"closes: {lived_twice:%Y-%m-%d %H:%M}",
            field="registration.closes",
            message=changed_time,
            rule="times_exist_once",
        ),
        Case(
            "deadline-skipped",
            old=f"documents_deadline: {reg.documents_deadline:%Y-%m-%d %H:%M}",
            new=f"documents_deadline: {skipped:%Y-%m-%d %H:%M}",
            field="registration.documents_deadline",
            message=changed_time,
            rule="times_exist_once",
        ),
        Case(
            "deadline-before-opens",
            old=f"documents_deadline: {reg.documents_deadline:%Y-%m-%d %H:%M}",
            new=f"documents_deadline: {reg.opens - timedelta(hours=1):%Y-%m-%d %H:%M}",
            field="registration.documents_deadline",
            message="la date limite des pièces doit être après l'ouverture",
            rule="documents_deadline_after_opens",
        ),
        _duplicate_id_case("pole", "poles", MODEL.poles, "pôle"),
        _duplicate_id_case("exam", "exams", MODEL.exams, "examen"),
        _duplicate_id_case("document", "documents", MODEL.documents, "pièce"),
        _duplicate_id_case("download", "downloads", MODEL.downloads, "document"),
        _duplicate_id_case("step", "steps", MODEL.steps, "étape"),
        Case(
            "unknown-exam",
            old=f"exams: [{', '.join(document.exams)}]",
            new=f"exams: [{', '.join(document.exams)}, {unknown_exam}]",
            field=f"documents[1].exams[{len(document.exams) + 1}]",
            message=f"examen « {unknown_exam} » inconnu ; examens déclarés : "
            + ", ".join(sorted(e.id for e in MODEL.exams)),
            after=f"id: {document.id}",
            rule="documents_name_known_exams",
        ),
        _step_placeholder_case(),
        *_duplicate_reason_cases(),
        Case(
            "session-without-end",
            old=f"- name: {MODEL.session.name}",
            new="- name: Session juin 2099",
            field="retention.sessions",
            message=f"la session « {MODEL.session.name} » (session.name) n'y figure pas : ajoutez-la "
            "avec sa date de fin (ends)",
            after="sessions:",
            reported_at="sessions:",
            rule="session_has_an_end",
        ),
    ]


def _duplicate_reason_cases() -> list[Case]:
    """The second reason of each list of the review section given the first one's id."""
    cases = []
    for key, reasons, what in (
        ("refusal_reasons", MODEL.review.refusal_reasons, "motif de refus"),
        ("ineligibility_reasons", MODEL.review.ineligibility_reasons, "motif d'irrecevabilité"),
    ):
        first, second = reasons[0].id, reasons[1].id
        cases.append(
            Case(
                f"duplicate-{key}-id",
                old=f"- id: {second}",
                new=f"- id: {first}",
                field=f"review.{key}[2].id",
                message=f"identifiant « {first} » en double : chaque {what} doit avoir le sien",
                after=f"{key}:",
                rule=f"unique_{key[: -len('_reasons')]}_reason_ids",
            )
        )
    return cases


RULE_CASES = _rule_cases()


def _review_cases() -> list[Case]:
    """Mistakes in the review section (the office's correction delay and reasons), each with its
    whole sentence."""
    review = MODEL.review
    days = f"correction_days: {review.correction_days}"
    refusal, ineligibility = review.refusal_reasons[-1], review.ineligibility_reasons[0]
    label = f"label: {refusal.label}"
    return [
        Case(
            "correction-days-61",
            days,
            "correction_days: 61",
            "review.correction_days",
            "valeur trop grande (maximum 60)",
        ),
        Case(
            "correction-days-negative",
            days,
            "correction_days: -3",
            "review.correction_days",
            "valeur trop petite (minimum 1)",
        ),
        Case(
            "correction-days-in-words",
            days,
            "correction_days: dix",
            "review.correction_days",
            "un nombre entier est attendu ici (sans guillemets)",
        ),
        Case(
            "correction-days-misspelt",
            days,
            f"correction_day: {review.correction_days}",
            "review.correction_day",
            "clé inconnue (faute de frappe ?) ; clés attendues : correction_days, refusal_reasons, "
            "ineligibility_reasons",
        ),
        Case(
            "reason-id-with-capitals-and-spaces",
            f"- id: {refusal.id}",
            "- id: Non Conforme",
            f"review.refusal_reasons[{len(review.refusal_reasons)}].id",
            "identifiant « Non Conforme » invalide : lettres minuscules sans accent, chiffres, tirets et "
            "soulignés (_) seulement, 60 caractères au plus (par exemple non_conforme)",
            after="refusal_reasons:",
        ),
        Case(
            "reason-label-empty",
            label,
            'label: ""',
            f"review.refusal_reasons[{len(review.refusal_reasons)}].label",
            "ce texte ne peut pas être vide",
            after="refusal_reasons:",
        ),
        Case(
            "reason-label-blank",
            f"label: {ineligibility.label}",
            'label: "   "',
            "review.ineligibility_reasons[1].label",
            "ce texte ne peut pas être vide",
            after="ineligibility_reasons:",
        ),
        Case(
            "reason-label-too-long",
            label,
            "label: " + "x" * 201,
            f"review.refusal_reasons[{len(review.refusal_reasons)}].label",
            "texte trop long (201 caractères, 200 au plus)",
            after="refusal_reasons:",
        ),
        Case(
            "reason-label-read-as-false",
            label,
            "label: no",
            f"review.refusal_reasons[{len(review.refusal_reasons)}].label",
            "« no » a été lu comme oui/non (vrai/faux), pas comme un texte : écrivez-le entre guillemets, "
            '"no"',
            after="refusal_reasons:",
        ),
        Case(
            "reason-label-missing",
            label,
            None,
            f"review.refusal_reasons[{len(review.refusal_reasons)}].label",
            "champ obligatoire absent : ajoutez-le",
            after="refusal_reasons:",
            reported_at=f"- id: {refusal.id}",
        ),
    ]


REVIEW_CASES = _review_cases()


# -- inputs that once crashed the loader with a traceback -------------------------------------


def _days_in(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _id_written_as(what: str, key: str, entries: list[Any], after: str, form: str) -> Case:
    """The second entry of the list `key` (at `after`) with its id written as a list or a block."""
    second = entries[1].id
    written = f"[{second}]" if form == "list" else f"{{id: {second}}}"
    return Case(
        f"{what}-id-as-{form}",
        old=f"- id: {second}",
        new=f"- id: {written}",
        field=f"{key}[2].id",
        message="un texte est attendu ici",
        after=after,
    )


def _crash_cases() -> list[Case]:
    """Mistakes that each crashed the loader with a Python traceback, and the sentence each now gives."""
    reg, year, academie = MODEL.registration, MODEL.registration.opens.year, MODEL.academie
    keys = ", ".join(Notice.model_fields)
    too_big = "9" * 5000
    ids = [
        _id_written_as(what, key, entries, after, form)
        for what, key, entries, after in (
            ("pole", "poles", MODEL.poles, "poles:"),
            ("exam", "exams", MODEL.exams, "exams:"),
            ("speciality", "exams[1].specialities", MODEL.exams[0].specialities, "specialities:"),
            ("document", "documents", MODEL.documents, "documents:"),
            ("download", "downloads", MODEL.downloads, "downloads:"),
            ("step", "steps", MODEL.steps, "steps:"),
        )
        for form in ("list", "block")
    ]
    return [
        Case(
            "impossible-month",
            old=f"opens: {reg.opens:%Y-%m-%d %H:%M}",
            new=f"opens: {year}-13-45",
            field="registration.opens",
            message=f"« {year}-13-45 » n'existe pas : les mois vont de 01 à 12",
        ),
        Case(
            "impossible-day-with-time",
            old=f"opens: {reg.opens:%Y-%m-%d %H:%M}",
            new=f"opens: {year}-02-30 10:00",
            field="registration.opens",
            message=f"« {year}-02-30 10:00 » n'existe pas : les jours de février {year} vont de 01 à "
            f"{_days_in(year, 2)}",
        ),
        Case(
            "impossible-day-with-seconds",  # read as a date by YAML itself, not by the model
            old=f"closes: {reg.closes:%Y-%m-%d %H:%M}",
            new=f"closes: {year}-04-31 10:00:00",
            field="registration.closes",
            message=f"« {year}-04-31 10:00:00 » n'existe pas : les jours de avril {year} vont de 01 à 30",
        ),
        Case(
            "impossible-hour",
            old=f"documents_deadline: {reg.documents_deadline:%Y-%m-%d %H:%M}",
            new=f"documents_deadline: {year}-11-13 24:00:00",
            field="registration.documents_deadline",
            message=f"« {year}-11-13 24:00:00 » n'existe pas : les heures vont de 00 à 23",
        ),
        Case(
            "impossible-date",
            old=f"age_reference_date: {reg.age_reference_date:%Y-%m-%d}",
            new=f"age_reference_date: {reg.age_reference_date.year}-02-30",
            field="registration.age_reference_date",
            message=f"« {reg.age_reference_date.year}-02-30 » n'existe pas : les jours de février "
            f"{reg.age_reference_date.year} vont de 01 à {_days_in(reg.age_reference_date.year, 2)}",
        ),
        Case(
            "impossible-date-in-a-text",
            old=f"name: {academie.name}",
            new=f"name: {year}-13-45",
            field="academie.name",
            message=f"« {year}-13-45 » n'existe pas : les mois vont de 01 à 12",
        ),
        Case(
            "impossible-date-as-a-key",
            old=f"timezone: {MODEL.timezone}",
            new=f"timezone: {MODEL.timezone}\n{year}-13-45: oups",
            field=f"{year}-13-45",
            message=f"clé inconnue (faute de frappe ?) ; clés attendues : {keys}",
            reported_at=f"{year}-13-45: oups",
        ),
        Case(
            "year-one",  # overflowed when converted to UTC
            old=f"opens: {reg.opens:%Y-%m-%d %H:%M}",
            new="opens: 0001-01-01 00:00",
            field="registration.opens",
            message="l'année 0001 n'est pas plausible : écrivez une année entre 2000 et 2100",
        ),
        Case(
            "year-9999",
            old=f"closes: {reg.closes:%Y-%m-%d %H:%M}",
            new="closes: 9999-12-31 23:59",
            field="registration.closes",
            message="l'année 9999 n'est pas plausible : écrivez une année entre 2000 et 2100",
        ),
        *ids,
        Case(
            "timezone-a-folder",
            old=f"timezone: {MODEL.timezone}",
            new="timezone: Europe",
            field="timezone",
            message="fuseau horaire inconnu « Europe » (par exemple Europe/Paris)",
        ),
        Case(
            "timezone-too-long",
            old=f"timezone: {MODEL.timezone}",
            new="timezone: Europe/" + "x" * 300,
            field="timezone",
            message=f"fuseau horaire inconnu « Europe/{'x' * 300} » (par exemple Europe/Paris)",
        ),
        Case(
            "number-key",
            old=f"timezone: {MODEL.timezone}",
            new=f"timezone: {MODEL.timezone}\n1: oups",
            field="1",
            message=f"clé inconnue (faute de frappe ?) ; clés attendues : {keys}",
            reported_at="1: oups",
        ),
        Case(
            "list-as-key",
            old=f"timezone: {MODEL.timezone}",
            new=f"timezone: {MODEL.timezone}\n? [a, b]\n: oups",
            field="(fichier)",
            message="une clé s'écrit comme un mot suivi de deux-points, pas comme une liste ni un bloc",
            reported_at="? [a, b]",
        ),
        Case(
            "int-tag-on-a-word",
            old=f"activation_hours: {reg.activation_hours}",
            new="activation_hours: !!int abc",
            field="registration.activation_hours",
            message="« abc » ne peut pas être lu comme un nombre entier ; pour un texte, écrivez-le "
            "entre guillemets",
        ),
        Case(
            "bool-tag-on-a-word",
            old=f"activation_hours: {reg.activation_hours}",
            new="activation_hours: !!bool abc",
            field="registration.activation_hours",
            message="« abc » ne peut pas être lu comme oui/non (true ou false) ; pour un texte, "
            "écrivez-le entre guillemets",
        ),
        Case(
            "timestamp-tag-on-a-word",
            old=f"activation_hours: {reg.activation_hours}",
            new="activation_hours: !!timestamp abc",
            field="registration.activation_hours",
            message="« abc » ne peut pas être lu comme une date ; pour un texte, écrivez-le entre guillemets",
        ),
        Case(
            "int-tag-on-nothing",
            old=f"activation_hours: {reg.activation_hours}",
            new="activation_hours: !!int",
            field="registration.activation_hours",
            message="valeur vide après l'étiquette « !!int » : écrivez la valeur ou retirez l'étiquette",
        ),
        Case(
            "unknown-tag",
            old=f"activation_hours: {reg.activation_hours}",
            new=f"activation_hours: !heures {reg.activation_hours}",
            field="registration.activation_hours",
            message="l'étiquette « !heures » ne peut pas servir ici : retirez-la",
        ),
        Case(
            "number-of-5000-digits",
            old=f"activation_hours: {reg.activation_hours}",
            new=f"activation_hours: {too_big}",
            field="registration.activation_hours",
            message=f"« {too_big[:59]}… » ne peut pas être lu comme un nombre entier ; pour un texte, "
            "écrivez-le entre guillemets",
        ),
        Case(
            "circular-alias",
            old=f"activation_hours: {reg.activation_hours}",
            new="activation_hours: &heures [*heures]",
            field="registration.activation_hours[1]",
            message="référence circulaire : cette valeur (*…) se contient elle-même ; écrivez-la en entier",
        ),
        Case(
            "half-a-character",
            old=f"email: {MODEL.poles[1].email}",
            new='email: "\\ud800"',
            field="poles[2].email",
            message="« \\ud800 » contient une séquence \\u… qui n'écrit que la moitié d'un caractère : "
            "écrivez le caractère lui-même",
        ),
        Case(
            "control-character",
            old=f"name: {academie.name}",
            new=f"name: {academie.name}\x07",
            field="(fichier)",
            message="caractère interdit (U+0007, souvent invisible) : supprimez-le, ou retapez la ligne",
        ),
        Case(
            "tab-indent",
            old=f"name: {academie.name}",
            new=f"\tname: {academie.name}",
            field="(fichier)",
            message="tabulation interdite : YAML n'accepte que des espaces, remplacez-la par des espaces",
        ),
    ]


CRASH_CASES = _crash_cases()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return published_site(tmp_path_factory)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "formservice.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


# How an editor reads a place in the file: a list's item by what it is, counted from 1.
NOUNS = {
    "poles": "pôle",
    "phones": "téléphone",
    "exams": "examen",
    "specialities": "spécialité",
    "documents": "pièce",
    "downloads": "document à télécharger",
    "steps": "étape",
    "refusal_reasons": "motif de refus",
    "ineligibility_reasons": "motif d'irrecevabilité",
}
FEMININE = {"spécialité", "pièce", "étape"}


def shown(field: str) -> str:
    """``poles[2].phones[1]`` as the report writes it: « 2e pôle, 1er téléphone »."""
    parts: list[str] = []
    keys: list[str] = []
    for key, index in re.findall(r"([^.\[\]]+)?(?:\[(\d+)\])?\.?", field):
        if key:
            keys.append(key)
        if index:
            listed = keys.pop()
            noun = NOUNS.get(listed, f"élément de {listed}")
            if keys:
                parts.append(".".join(keys))
                keys = []
            n = int(index)
            parts.append(f"{('1re' if noun in FEMININE else '1er') if n == 1 else f'{n}e'} {noun}")
    return ", ".join([*parts, ".".join(keys)] if keys else parts)


def expected_line(case: Case, line: int) -> str:
    return f"notice.yml, ligne {line} : {shown(case.field)} : "


def reported(lines: list[str]) -> list[str]:
    """The report's lines without the column that YAML's syntax errors add to the line."""
    return [re.sub(r"^(notice\.yml, ligne \d+), colonne \d+", r"\1", x) for x in lines]


def test_repository_notice_is_valid() -> None:
    """The repository's notice.yml passes `formservice check`."""
    done = cli("check", "--notice", str(NOTICE))
    assert done.returncode == 0, done.stderr
    assert "aucun problème" in done.stdout


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_mistake_is_reported_with_its_line(case: Case) -> None:
    """The mistake gives one French sentence on the right line and field."""
    text, line = edit(GOOD_TEXT, case)
    with pytest.raises(NoticeError) as caught:
        parse_notice(text, "notice.yml")
    matching = [x for x in reported(caught.value.lines()) if x.startswith(expected_line(case, line))]
    assert matching, caught.value.report()
    assert case.message in matching[0]


@pytest.mark.parametrize("case", RULE_CASES, ids=[c.id for c in RULE_CASES])
def test_cross_field_rule_is_reported_with_its_line(case: Case) -> None:
    """A broken cross-field rule gives its whole French sentence, on the right line and field."""
    text, line = edit(GOOD_TEXT, case)
    with pytest.raises(NoticeError) as caught:
        parse_notice(text, "notice.yml")
    assert f"{expected_line(case, line)}{case.message}" in reported(caught.value.lines()), (
        caught.value.report()
    )


@pytest.mark.parametrize("case", REVIEW_CASES, ids=[c.id for c in REVIEW_CASES])
def test_review_mistake_is_reported_with_its_line(case: Case) -> None:
    """A mistake in the review section gives its whole French sentence, on the right line and field."""
    text, line = edit(GOOD_TEXT, case)
    with pytest.raises(NoticeError) as caught:
        parse_notice(text, "notice.yml")
    assert f"{expected_line(case, line)}{case.message}" in reported(caught.value.lines()), (
        caught.value.report()
    )


def _review_block(text: str) -> tuple[list[str], int, int]:
    """The lines of `text` and the bounds of its top-level `review:` block."""
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("review:"))
    end = next(i for i in range(start + 1, len(lines)) if lines[i][:1] not in (" ", "\n", "#"))
    return lines, start, end


def test_the_review_section_is_required() -> None:
    lines, start, end = _review_block(GOOD_TEXT)
    with pytest.raises(NoticeError) as caught:
        parse_notice("".join(lines[:start] + lines[end:]), "notice.yml")
    assert caught.value.lines() == ["notice.yml, ligne 13 : review : champ obligatoire absent : ajoutez-le"]


@pytest.mark.parametrize("key", ["refusal_reasons", "ineligibility_reasons"])
def test_a_list_of_reasons_is_not_empty(key: str) -> None:
    lines, start, end = _review_block(GOOD_TEXT)
    first = next(i for i in range(start, end) if lines[i].strip() == f"{key}:")
    last = next((i for i in range(first + 1, end) if not lines[i].startswith("    ")), end)
    text = "".join([*lines[:first], f"  {key}: []\n", *lines[last:]])
    with pytest.raises(NoticeError) as caught:
        parse_notice(text, "notice.yml")
    assert caught.value.lines() == [
        f"notice.yml, ligne {first + 1} : review.{key} : la liste ne peut pas être vide"
    ]


def test_the_review_section_is_read() -> None:
    """The repository's notice.yml: 10 days, the reasons the office gives, found by their id."""
    review = MODEL.review
    assert 1 <= review.correction_days <= 60
    assert [r.id for r in review.refusal_reasons][:4] == ["illisible", "incomplet", "perime", "non_conforme"]
    reason = review.refusal_reason("perime")
    assert reason is not None and reason.label == "Document périmé"
    assert review.refusal_reason("doublon") is None
    assert review.ineligibility_reason("doublon") is not None
    for reasons in (review.refusal_reasons, review.ineligibility_reasons):
        ids = [r.id for r in reasons]
        assert len(set(ids)) == len(ids) and all(r.label.strip() for r in reasons)


def test_every_cross_field_rule_has_a_case() -> None:
    """Each rule of formservice.notice.validation is broken by at least one case above."""
    tested = {c.rule for c in CASES + RULE_CASES}
    assert {rule.__name__ for rule in RULES} <= tested


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_mistake_stops_check_and_publish(case: Case, site: Path, tmp_path: Path) -> None:
    """`check` and `publish` exit non-zero with the message; the published site is untouched."""
    text, line = edit(GOOD_TEXT, case)
    bad = tmp_path / "notice.yml"
    bad.write_text(text, encoding="utf-8")
    before = snapshot(site)

    checked = cli("check", "--notice", str(bad))
    published = cli("publish", "--notice", str(bad), "--site-dir", str(site))

    for done in (checked, published):
        assert done.returncode == 1
        report = [x for x in reported(done.stderr.splitlines()) if x.startswith(expected_line(case, line))]
        assert report and case.message in report[0], done.stderr
    assert "le site en ligne n'a pas changé" in published.stderr
    assert snapshot(site) == before


def test_every_mistake_is_reported_at_once() -> None:
    """Several mistakes in one file are all reported in one run, in line order."""
    text = GOOD_TEXT
    wanted = ("unknown-key", "closes-before-opens", "duplicate-id", "no-read-as-false")
    chosen = [c for c in CASES if c.id in wanted]
    for case in chosen:
        text, _ = edit(text, case)
    with pytest.raises(NoticeError) as caught:
        parse_notice(text, "notice.yml")
    report = caught.value.report()
    for case in chosen:
        assert f" : {shown(case.field)} : " in report and case.message in report
    numbers = [int(x.split("ligne ")[1].split(" ")[0]) for x in caught.value.lines()]
    assert numbers == sorted(numbers)


@pytest.mark.parametrize("written", ["0516526455", "05.16.52.64.55", "05-16-52-64-55", "+33 5 16 52 64 55"])
def test_phone_is_normalised(written: str) -> None:
    """However an editor writes a French number, it is shown in pairs of digits."""
    assert normalise_phone(written) == "05 16 52 64 55"


@pytest.mark.parametrize("written", ["05 16 52 64 5", "00 16 52 64 55", "+44 20 7946 0958"])
def test_phone_that_is_not_french_is_refused(written: str) -> None:
    """A number that is not a 10-digit French number gets the editor's sentence."""
    with pytest.raises(ValueError) as caught:
        normalise_phone(written)
    assert str(caught.value) == (
        f"« {written} » n'est pas un numéro de téléphone français à 10 chiffres "
        '(par exemple "05 16 52 64 55")'
    )


@pytest.mark.parametrize("case", CRASH_CASES, ids=[c.id for c in CRASH_CASES])
def test_input_that_crashed_is_reported_with_its_line(case: Case) -> None:
    """What used to stop the loader with a traceback gives its whole French sentence instead."""
    text, line = edit(GOOD_TEXT, case)
    with pytest.raises(NoticeError) as caught:
        parse_notice(text, "notice.yml")
    assert f"{expected_line(case, line)}{case.message}" in reported(caught.value.lines()), (
        caught.value.report()
    )


def _speciality_of(pole_id: str) -> tuple[str, str]:
    """The field and the line content of the first speciality managed by the pôle `pole_id`."""
    for i, exam in enumerate(MODEL.exams):
        for j, spec in enumerate(exam.specialities):
            if spec.pole == pole_id:
                return f"exams[{i + 1}].specialities[{j + 1}].pole", f"pole: {pole_id}"
    raise AssertionError(f"no speciality of {pole_id}")


def _line_of(text: str, content: str, after: str | None = None) -> int:
    lines = text.splitlines()
    start = 0 if after is None else next(i for i, line in enumerate(lines) if after in line)
    return next(i for i in range(start, len(lines)) if lines[i].strip() == content) + 1


@pytest.mark.parametrize("written", ["- id:", "- id: [{id}]", "- id: {{id: {id}}}"])
def test_pole_without_a_text_id_is_not_among_the_declared_ones(written: str) -> None:
    """A pôle whose id is missing, or is a list or a block, is not declared: the list of the
    declared pôles shows only real ids (never « None »)."""
    sah = MODEL.poles[1]
    text, _ = edit(
        GOOD_TEXT, Case("", old=f"- id: {sah.id}", new=written.format(id=sah.id), field="", message="")
    )
    field, content = _speciality_of(sah.id)
    declared = ", ".join(sorted(p.id for p in MODEL.poles if p.id != sah.id))
    with pytest.raises(NoticeError) as caught:
        parse_notice(text, "notice.yml")
    wanted = (
        f"notice.yml, ligne {_line_of(text, content, 'exams:')} : {shown(field)} : "
        f"pôle « {sah.id} » inconnu ; pôles déclarés : {declared}"
    )
    assert wanted in caught.value.lines(), caught.value.report()
    assert "None" not in caught.value.report()


def _replace_block(text: str, key: str, value: str) -> str:
    """`text` with the whole top-level block `key:` replaced by the single line `key: value`."""
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{key}:"))
    end = next((i for i in range(start + 1, len(lines)) if lines[i][:1] not in (" ", "\n", "#")), len(lines))
    return "".join([*lines[:start], f"{key}: {value}\n", *lines[end:]])


def test_number_instead_of_the_list_of_poles() -> None:
    """`poles: 3`: the list is asked for, and the specialities find no pôle declared."""
    text = _replace_block(GOOD_TEXT, "poles", "3")
    field, content = _speciality_of(MODEL.exams[0].specialities[0].pole)
    with pytest.raises(NoticeError) as caught:
        parse_notice(text, "notice.yml")
    lines = caught.value.lines()
    pole = MODEL.exams[0].specialities[0].pole
    assert (
        f"notice.yml, ligne {_line_of(text, 'poles: 3')} : poles : "
        "une liste est attendue ici (des lignes commençant par « - »)"
    ) in lines, caught.value.report()
    assert (
        f"notice.yml, ligne {_line_of(text, content, 'exams:')} : {shown(field)} : "
        f"pôle « {pole} » inconnu ; pôles déclarés : aucun"
    ) in lines, caught.value.report()


LAUGH_LEVELS = len(str(MAX_VALUES)) - 2  # 10**LAUGH_LEVELS values written, well under MAX_VALUES


def _laughs() -> str:
    """Ten aliases of ten aliases of… : a few lines, and the last one would expand to more values
    than MAX_VALUES (millions, with a few more lines)."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, LAUGH_LEVELS)]
    lines += [f"poles: [{', '.join([f'*a{LAUGH_LEVELS - 1}'] * 10)}]"]
    return "\n".join(lines) + "\n"


WHOLE_FILE_CASES = {
    "empty": ("", 1, "le fichier est vide"),
    "comments-only": ("# rien encore\n\n", 1, "le fichier est vide"),
    "document-marker-only": ("---\n", 1, "le fichier est vide"),
    "top-level-list": ("- timezone: Europe/Paris\n- poles: []\n", 1, "un bloc de clés est attendu ici"),
    "top-level-text": ("note aux candidats\n", 1, "un bloc de clés est attendu ici"),
    "top-level-number": ("2026\n", 1, "un bloc de clés est attendu ici"),
    "nested-too-deep": (
        "timezone: Europe/Paris\npoles: " + "[" * 3000 + "]" * 3000 + "\n",
        2,
        "trop de niveaux imbriqués (crochets, accolades ou indentation) : le fichier ne peut pas être lu",
    ),
    "aliases-multiplying": (
        _laughs(),
        LAUGH_LEVELS + 1,
        f"le fichier contient trop de valeurs (plus de {MAX_VALUES // 1000}\u202f000, en comptant chaque "
        "répétition d'une référence *…) : ce n'est pas une note aux candidats",
    ),
    "huge": (
        GOOD_TEXT + "#" * MAX_BYTES,
        1,
        f"fichier trop gros ({(len(GOOD_TEXT.encode()) + MAX_BYTES) / 1e6:.1f} Mo, 1 Mo au plus) : "
        "vérifiez qu'il s'agit bien de la note aux candidats".replace(".", ",", 1),
    ),
}


@pytest.mark.parametrize(("text", "line", "message"), WHOLE_FILE_CASES.values(), ids=list(WHOLE_FILE_CASES))
def test_file_that_is_not_a_notice_is_reported(text: str, line: int, message: str) -> None:
    """A file that is not a mapping of keys at all gets one sentence, never a traceback."""
    with pytest.raises(NoticeError) as caught:
        parse_notice(text, "notice.yml")
    assert caught.value.lines() == [f"notice.yml, ligne {line} : (fichier) : {message}"]


def test_folder_given_as_the_notice(tmp_path: Path) -> None:
    folder = tmp_path / "notice.yml"
    folder.mkdir()
    with pytest.raises(NoticeError) as caught:
        load_notice(folder)
    assert caught.value.lines() == [
        "notice.yml, ligne 1 : (fichier) : c'est un dossier, pas un fichier : "
        "indiquez le chemin de notice.yml"
    ]


def test_huge_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "notice.yml"
    path.write_bytes(GOOD_TEXT.encode() + b"#" * (3 * MAX_BYTES // 2))
    size = f"{path.stat().st_size / 1e6:.1f}".replace(".", ",")
    with pytest.raises(NoticeError) as caught:
        load_notice(path)
    assert caught.value.lines() == [
        f"notice.yml, ligne 1 : (fichier) : fichier trop gros ({size} Mo, 1 Mo au plus) : "
        "vérifiez qu'il s'agit bien de la note aux candidats"
    ]


def test_file_not_in_utf8_points_at_the_line(tmp_path: Path) -> None:
    """A file saved in Latin-1 is reported on the line of its first accent, not on line 1."""
    path = tmp_path / "notice.yml"
    path.write_bytes(GOOD_TEXT.encode("latin-1", "replace"))
    lines = GOOD_TEXT.splitlines()
    first = next(n for n, line in enumerate(lines, 1) if any(127 < ord(c) < 256 for c in line))
    with pytest.raises(NoticeError) as caught:
        load_notice(path)
    assert caught.value.lines() == [
        f"notice.yml, ligne {first} : (fichier) : le fichier doit être enregistré en UTF-8 "
        "(un caractère de cette ligne ne l'est pas)"
    ]


def test_windows_line_endings_are_read_as_the_file(tmp_path: Path) -> None:
    path = tmp_path / "notice.yml"
    path.write_bytes(GOOD_TEXT.replace("\n", "\r\n").encode())
    assert load_notice(path) == MODEL


@pytest.mark.parametrize(
    "case",
    [c for c in CRASH_CASES if c.id in {"impossible-month", "pole-id-as-list", "exam-id-as-block"}],
    ids=lambda c: c.id,
)
def test_input_that_crashed_stops_check_without_a_traceback(case: Case, tmp_path: Path) -> None:
    """What an editor sees in the terminal: the sentence, and no Python traceback."""
    text, line = edit(GOOD_TEXT, case)
    bad = tmp_path / "notice.yml"
    bad.write_text(text, encoding="utf-8")
    done = cli("check", "--notice", str(bad))
    assert done.returncode == 1
    assert f"{expected_line(case, line)}{case.message}" in done.stderr.splitlines(), done.stderr
    assert "Traceback" not in done.stderr


def test_a_leading_zero_is_said_lost_only_when_there_was_one() -> None:
    """« 0516526455 » loses its 0; « 2025 » read as a number loses nothing: neither sentence lies."""
    previous = MODEL.session.previous_session
    text = GOOD_TEXT.replace(f'previous_session: "{previous}"', f"previous_session: {previous}")
    with pytest.raises(NoticeError) as caught:
        parse_notice(text, "notice.yml")
    [line] = caught.value.lines()
    assert f"« {previous} » a été lu comme un nombre : écrivez-le entre guillemets" in line
    assert "0" not in line.split("nombre")[1].split(":")[0]  # no « 0 … perdu » about 2025
    digits = MODEL.poles[0].phones[0].replace(" ", "")
    text = GOOD_TEXT.replace(f'phones: ["{MODEL.poles[0].phones[0]}"', f"phones: [{digits}")
    with pytest.raises(NoticeError) as caught:
        parse_notice(text, "notice.yml")
    assert "(le 0 du début est perdu)" in caught.value.report()


@pytest.mark.parametrize(
    ("old", "new", "column", "sentence"),
    [
        (f"name: {MODEL.academie.name}", f"name: {MODEL.academie.name}: oups", None, "deux-points inattendu"),
        ("timezone: Europe/Paris", "timezone: @Europe/Paris", 11, "le caractère « @ »"),
        ("timezone: Europe/Paris", "timezone: *paris", 11, "référence *paris inconnue"),
        ("timezone: Europe/Paris", 'timezone: "Europe\\qParis"', 19, "séquence « \\q » inconnue"),
    ],
)
def test_yaml_syntax_errors_are_french_with_line_and_column(old, new, column, sentence) -> None:
    """YAML's own mistakes say what is wrong in French, on the line and column where it starts,
    never in the parser's English."""
    text = GOOD_TEXT.replace(old, new, 1)
    with pytest.raises(NoticeError) as caught:
        parse_notice(text, "notice.yml")
    [line] = caught.value.lines()
    where = _line_of(text, new.strip())
    assert line.startswith(f"notice.yml, ligne {where}, colonne ")
    if column is not None:
        assert f", colonne {column} :" in line
    assert "syntaxe YAML incorrecte : " in line and sentence in line
    assert not re.search(r"\b(found|expected|while|mapping|scalar|token|alias)\b", line), line
