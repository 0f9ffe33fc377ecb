"""Each editor mistake in notice.yml is reported with its line, stops `check` and `publish`, and
leaves the published site alone; each cross-field rule (formservice.notice.validation) has a case
that checks its whole French sentence. The bad files are made by editing one line of the real
notice.yml, and the expected values are derived from the model, so the cases follow the file as
it evolves."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from site_fixtures import NOTICE, ROOT, published_site, snapshot

from formservice.notice import NoticeError, load_notice, normalise_phone, parse_notice
from formservice.notice.validation import RULES

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
    ]


RULE_CASES = _rule_cases()


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


def expected_line(case: Case, line: int) -> str:
    return f"notice.yml, ligne {line} : {case.field} : "


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
    matching = [x for x in caught.value.lines() if x.startswith(expected_line(case, line))]
    assert matching, caught.value.report()
    assert case.message in matching[0]


@pytest.mark.parametrize("case", RULE_CASES, ids=[c.id for c in RULE_CASES])
def test_cross_field_rule_is_reported_with_its_line(case: Case) -> None:
    """A broken cross-field rule gives its whole French sentence, on the right line and field."""
    text, line = edit(GOOD_TEXT, case)
    with pytest.raises(NoticeError) as caught:
        parse_notice(text, "notice.yml")
    assert f"{expected_line(case, line)}{case.message}" in caught.value.lines(), caught.value.report()


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
        report = [x for x in done.stderr.splitlines() if x.startswith(expected_line(case, line))]
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
        assert f" : {case.field} : " in report and case.message in report
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
