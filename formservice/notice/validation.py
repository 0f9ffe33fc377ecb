"""The rules of notice.yml that span several fields, one function per rule, listed in ``RULES``.

They run on the raw YAML data, beside pydantic's field checks and whether or not those pass, so
that an editor sees everything wrong in one run. A rule therefore never trusts a value's type:
whatever is not what it checks (a missing block, a number instead of a text) is left to the
field checks. Each rule yields ``(path, sentence)``: the path of the value to point at, as in
``("registration", "closes")``, and the French sentence the editor reads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from formservice.notice.model import PLACEHOLDER_RE, PLACEHOLDERS, local_datetime

Location = tuple[Any, ...]
Finding = tuple[Location, str]
Rule = Callable[[dict[str, Any]], Iterable[Finding]]

REGISTRATION_TIMES = ("opens", "closes", "documents_deadline")


# -- reading the raw data --------------------------------------------------------------------


def _entries(data: dict[str, Any], key: str) -> list[tuple[int, dict[str, Any]]]:
    """The blocks of the list `key`, with their positions; whatever is not a block is skipped."""
    value = data.get(key)
    return [(i, v) for i, v in enumerate(value) if isinstance(v, dict)] if isinstance(value, list) else []


def _specialities(data: dict[str, Any]) -> Iterator[tuple[Location, dict[str, Any]]]:
    """Every speciality block of every exam, with its path."""
    for i, exam in _entries(data, "exams"):
        value = exam.get("specialities")
        for j, spec in enumerate(value if isinstance(value, list) else []):
            if isinstance(spec, dict):
                yield ("exams", i, "specialities", j), spec


def _zone(data: dict[str, Any]) -> ZoneInfo | None:
    """The notice's time zone, or None if it is not written or unknown."""
    name = data.get("timezone")
    if not isinstance(name, str):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Europe", or a name too long
        return None


def _registration_times(data: dict[str, Any]) -> dict[str, datetime]:
    """The registration's local dates with time that are readable, by key."""
    registration = data.get("registration")
    if not isinstance(registration, dict):
        return {}
    times: dict[str, datetime] = {}
    for key in REGISTRATION_TIMES:
        try:
            value = local_datetime(registration.get(key))
        except ValueError:
            continue
        if isinstance(value, datetime):
            times[key] = value
    return times


def _duplicates(entries: Iterable[tuple[Location, Any]], what: str) -> Iterator[Finding]:
    """Each identifier already used by an earlier entry; `what` names one entry (« chaque pôle »)."""
    seen: set[Any] = set()
    for path, value in entries:
        if not isinstance(value, str):
            continue
        if value in seen:
            yield path, f"identifiant « {value} » en double : chaque {what} doit avoir le sien"
        seen.add(value)


def _ids(data: dict[str, Any], key: str) -> list[tuple[Location, Any]]:
    """The `id` of each block of the list `key`, with its path."""
    return [((key, i, "id"), entry.get("id")) for i, entry in _entries(data, key)]


def _declared(data: dict[str, Any], key: str) -> set[str]:
    """The identifiers written as texts in the list `key`: a missing id, or one written as a list
    or a block, is the field checks' to report, not a declared one."""
    return {value for _, value in _ids(data, key) if isinstance(value, str)}


# -- the rules --------------------------------------------------------------------------------


def known_timezone(data: dict[str, Any]) -> Iterator[Finding]:
    """Le fuseau horaire est un fuseau connu, écrit comme Europe/Paris."""
    name = data.get("timezone")
    if isinstance(name, str) and _zone(data) is None:
        yield ("timezone",), f"fuseau horaire inconnu « {name} » (par exemple Europe/Paris)"


def times_exist_once(data: dict[str, Any]) -> Iterator[Finding]:
    """Ouverture, clôture et date limite des pièces ne tombent pas dans un changement d'heure."""
    zone = _zone(data)
    if zone is None:
        return
    for key, value in _registration_times(data).items():
        there = value.replace(tzinfo=zone)
        back = there.astimezone(ZoneInfo("UTC")).astimezone(zone).replace(tzinfo=None)
        repeated = value.replace(tzinfo=zone, fold=1).utcoffset() != there.utcoffset()
        if back != value or repeated:  # skipped in spring, or lived twice in autumn
            yield (
                ("registration", key),
                "cette heure n'existe pas ou existe deux fois à cause du "
                "changement d'heure : choisissez une autre heure",
            )


def closes_after_opens(data: dict[str, Any]) -> Iterator[Finding]:
    """Les inscriptions ferment après leur ouverture."""
    times = _registration_times(data)
    if "opens" in times and "closes" in times and times["closes"] <= times["opens"]:
        yield ("registration", "closes"), "la clôture doit être postérieure à l'ouverture (opens)"


def documents_deadline_after_opens(data: dict[str, Any]) -> Iterator[Finding]:
    """La date limite de dépôt des pièces justificatives vient après l'ouverture des inscriptions."""
    times = _registration_times(data)
    if "opens" in times and "documents_deadline" in times and times["documents_deadline"] <= times["opens"]:
        yield ("registration", "documents_deadline"), "la date limite des pièces doit être après l'ouverture"


def unique_pole_ids(data: dict[str, Any]) -> Iterator[Finding]:
    """Deux pôles n'ont pas le même identifiant."""
    return _duplicates(_ids(data, "poles"), "pôle")


def unique_exam_ids(data: dict[str, Any]) -> Iterator[Finding]:
    """Deux examens n'ont pas le même identifiant."""
    return _duplicates(_ids(data, "exams"), "examen")


def unique_document_ids(data: dict[str, Any]) -> Iterator[Finding]:
    """Deux pièces justificatives n'ont pas le même identifiant."""
    return _duplicates(_ids(data, "documents"), "pièce")


def unique_download_ids(data: dict[str, Any]) -> Iterator[Finding]:
    """Deux documents à télécharger n'ont pas le même identifiant."""
    return _duplicates(_ids(data, "downloads"), "document")


def unique_step_ids(data: dict[str, Any]) -> Iterator[Finding]:
    """Deux étapes n'ont pas le même identifiant."""
    return _duplicates(_ids(data, "steps"), "étape")


def _reason_ids(data: dict[str, Any], key: str) -> list[tuple[Location, Any]]:
    """The `id` of each reason of the list `review.<key>`, with its path."""
    review = data.get("review")
    if not isinstance(review, dict):
        return []
    return [(("review", key, i, "id"), entry.get("id")) for i, entry in _entries(review, key)]


def unique_refusal_reason_ids(data: dict[str, Any]) -> Iterator[Finding]:
    """Deux motifs de refus d'une pièce n'ont pas le même identifiant."""
    return _duplicates(_reason_ids(data, "refusal_reasons"), "motif de refus")


def unique_ineligibility_reason_ids(data: dict[str, Any]) -> Iterator[Finding]:
    """Deux motifs d'irrecevabilité n'ont pas le même identifiant."""
    return _duplicates(_reason_ids(data, "ineligibility_reasons"), "motif d'irrecevabilité")


def specialities_have_known_poles(data: dict[str, Any]) -> Iterator[Finding]:
    """Chaque spécialité est gérée par un pôle déclaré dans poles."""
    poles = _declared(data, "poles")
    for path, spec in _specialities(data):
        pole = spec.get("pole")
        if isinstance(pole, str) and pole not in poles:
            declared = ", ".join(sorted(poles)) or "aucun"
            yield (*path, "pole"), f"pôle « {pole} » inconnu ; pôles déclarés : {declared}"


def unique_speciality_ids(data: dict[str, Any]) -> Iterator[Finding]:
    """Deux spécialités n'ont pas le même identifiant, même dans deux examens différents."""
    return _duplicates((((*path, "id"), spec.get("id")) for path, spec in _specialities(data)), "spécialité")


def documents_name_known_exams(data: dict[str, Any]) -> Iterator[Finding]:
    """Une pièce justificative n'est demandée que pour des examens déclarés dans exams."""
    exams = _declared(data, "exams")
    for i, document in _entries(data, "documents"):
        wanted = document.get("exams")
        for j, exam in enumerate(wanted if isinstance(wanted, list) else []):
            if isinstance(exam, str) and exam not in exams:
                declared = ", ".join(sorted(exams)) or "aucun"
                yield (
                    ("documents", i, "exams", j),
                    f"examen « {exam} » inconnu ; examens déclarés : {declared}",
                )


def steps_use_known_placeholders(data: dict[str, Any]) -> Iterator[Finding]:
    """Le texte d'une étape ne reprend entre {{ }} que des valeurs que ce fichier fournit."""
    for i, step in _entries(data, "steps"):
        body = step.get("body")
        if not isinstance(body, str):
            continue
        for name in PLACEHOLDER_RE.findall(body):
            if name not in PLACEHOLDERS:
                yield (
                    ("steps", i, "body"),
                    f"{{{{ {name} }}}} inconnu ; valeurs possibles : {', '.join(PLACEHOLDERS)}",
                )


def session_has_an_end(data: dict[str, Any]) -> Iterator[Finding]:
    """La session de la notice figure dans retention.sessions, avec sa date de fin : les durées
    de conservation en partent."""
    session, retention = data.get("session"), data.get("retention")
    if not isinstance(session, dict) or not isinstance(retention, dict):
        return
    name = session.get("name")
    names = [s.get("name") for _, s in _entries(retention, "sessions")]
    if isinstance(name, str) and isinstance(retention.get("sessions"), list) and name not in names:
        yield (
            ("retention", "sessions"),
            f"la session « {name} » (session.name) n'y figure pas : ajoutez-la avec sa date de fin (ends)",
        )


# In this order, which is the order of the problems that share a line and a field.
RULES: tuple[Rule, ...] = (
    known_timezone,
    times_exist_once,
    closes_after_opens,
    documents_deadline_after_opens,
    unique_pole_ids,
    unique_exam_ids,
    unique_document_ids,
    unique_download_ids,
    unique_step_ids,
    unique_refusal_reason_ids,
    unique_ineligibility_reason_ids,
    specialities_have_known_poles,
    unique_speciality_ids,
    documents_name_known_exams,
    steps_use_known_placeholders,
    session_has_an_end,
)


def cross_checks(data: Any) -> list[Finding]:
    """What every rule finds in the raw data of notice.yml, rule after rule."""
    if not isinstance(data, dict):
        return []
    return [finding for rule in RULES for finding in rule(data)]
