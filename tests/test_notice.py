"""Each editor mistake in notice.yml is reported with its line, stops `check` and `publish`, and
leaves the published site alone. The bad files are made by editing one line of the real notice.yml,
and the expected values are derived from the model, so the cases follow the file as it evolves."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from site_fixtures import NOTICE, ROOT, published_site, snapshot

from formservice.notice import NoticeError, load_notice, parse_notice

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
    reported_at: str | None = None  # content of the reported line when it is not the edited one


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
        reported = next(i for i, line in enumerate(lines) if line.strip() == case.reported_at) + 1
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
        ),
        Case(
            "unknown-pole",
            old=f"pole: {spec_a.pole}",
            new=f"pole: {spec_a.pole}-inconnu",
            field="exams[1].specialities[1].pole",
            message=f"pôle « {spec_a.pole}-inconnu » inconnu",
            after=f"id: {spec_a.id}",
        ),
        Case(
            "duplicate-id",
            old=f"- id: {spec_b.id}",
            new=f"- id: {spec_a.id}",
            field="exams[1].specialities[2].id",
            message=f"identifiant « {spec_a.id} » en double",
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
