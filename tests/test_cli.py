"""The editor's and operator's commands speak French: help, errors, and `check`'s warnings, which
point at their line and never fail the check, including what the store and the site say."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import anyio
import pytest
from notice_factory import NOTICE_YML, edited_notice_text
from site_fixtures import published_site

from formservice.cli import main
from formservice.notice import load_notice

MODEL = load_notice(NOTICE_YML)
ENGLISH = re.compile(r"\b(usage|positional arguments|show this help|error|invalid choice|required)\b")
COMMANDS = (
    [],
    ["check"],
    ["publish"],
    ["serve"],
    ["demo"],
    ["purge"],
    ["staff"],
    ["staff", "invite"],
    ["staff", "list"],
    ["staff", "disable"],
    ["mail"],
    ["store"],
)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "formservice")
def test_help_is_french(command: list[str], capsys) -> None:
    """`formservice … --help` has no English word of argparse's; every option says what it does."""
    with pytest.raises(SystemExit) as done:
        main([*command, "--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0 and out.startswith("utilisation : formservice")
    assert not ENGLISH.search(out), out
    assert "afficher cette aide et quitter" in out
    options = re.findall(r"(?m)^  (-[-\w]+(?: [A-ZÔ]+)?)\s*$", out)  # an option alone on its line: no help
    assert options == [], options


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["staff", "invite"], "arguments obligatoires manquants : ADRESSE, --role"),
        (["serve", "--port", "x"], "argument --port : valeur invalide : 'x'"),
        (["rien"], "choix invalide : 'rien'"),
        (["check", "--oups"], "arguments inconnus : --oups"),
    ],
)
def test_command_line_mistakes_are_said_in_french(argv: list[str], expected: str, capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main(argv)
    err = capsys.readouterr().err
    assert done.value.code == 2 and expected in err and " : erreur : " in err and "error" not in err


def check(tmp_path: Path, capsys, text: str, *extra: str) -> tuple[int, str]:
    notice = tmp_path / "notice.yml"
    notice.write_text(text, encoding="utf-8")
    argv = ["check", "--notice", str(notice), "--data-dir", str(tmp_path / "var")]
    argv += ["--site-dir", str(tmp_path / "site"), *extra]
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def line_of(text: str, start: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if line.strip().startswith(start))


def test_a_deadline_before_the_closing_is_a_warning_on_its_line(tmp_path: Path, capsys) -> None:
    """documents_deadline before registration.closes passes the check, with a warning at its line."""
    text = edited_notice_text(documents_deadline=f"{MODEL.registration.closes.date()} 08:00")
    code, out = check(tmp_path, capsys, text)
    line = line_of(text, "documents_deadline:")
    assert code == 0 and "aucun problème" in out
    assert f"notice.yml, ligne {line} : registration.documents_deadline : attention, " in out
    assert "est avant la clôture des inscriptions" in out


def test_a_deadline_months_after_the_closing_is_a_warning(tmp_path: Path, capsys) -> None:
    closes = MODEL.registration.closes
    text = edited_notice_text(documents_deadline=f"{closes.year + 1}-{closes:%m-%d %H:%M}")
    code, out = check(tmp_path, capsys, text)
    assert code == 0 and "jours après la clôture" in out and "vérifiez le mois et l'année" in out


def test_every_piece_still_an_example_is_a_warning_and_one_confirmed_piece_silences_it(
    tmp_path: Path, capsys
) -> None:
    text = NOTICE_YML.read_text(encoding="utf-8")
    assert all(d.example for d in MODEL.documents)  # the repository's notice, as delivered
    code, out = check(tmp_path, capsys, text)
    assert code == 0 and f"les {len(MODEL.documents)} pièces sont toutes encore marquées" in out
    confirmed = text.replace("    example: true\n", "", 1)
    assert "toutes encore marquées" not in check(tmp_path, capsys, confirmed)[1]


def test_plural_and_french_places_in_the_problems(tmp_path: Path, capsys) -> None:
    """« 2 problèmes » (not « problème(s) »), and a list item named as an editor reads it."""
    pole = MODEL.poles[0]
    text = NOTICE_YML.read_text(encoding="utf-8").replace(f"email: {pole.email}", "email: pas-une-adresse")
    text = text.replace("activation_hours: 48", "activation_hours: 0")
    code, out = check(tmp_path, capsys, text)
    assert code == 1 and "2 problèmes dans" in out and "(s)" not in out
    assert "1er pôle, email : « pas-une-adresse »" in out


def store_with(tmp_path: Path, speciality: str) -> Path:
    """A real store in tmp_path/var holding one candidate's saved enrolment in `speciality`."""
    from store.helpers import enrolment

    from formservice.store import Store
    from formservice.store.tinydb.engine import TinyDBEngine

    async def write() -> None:
        engine = TinyDBEngine(tmp_path / "var" / "store")
        try:
            doc = enrolment(1, session=MODEL.session.name)
            doc["data"]["speciality"] = speciality
            assert await Store(engine).enrolments.create_if_absent(doc)  # type: ignore[arg-type]
        finally:
            await engine.close()

    anyio.run(write)
    return tmp_path / "var" / "store"


def test_a_speciality_gone_with_candidates_enrolled_is_a_warning(tmp_path: Path, capsys) -> None:
    """The store is read (service stopped): a speciality someone enrolled in and that the notice no
    longer lists is named, with how many candidates it concerns."""
    store_with(tmp_path, "bp-disparue")
    code, out = check(tmp_path, capsys, NOTICE_YML.read_text(encoding="utf-8"))
    assert code == 0
    assert "la spécialité « bp-disparue » n'est plus dans la notice alors que 1 candidat inscrit y est" in out


def test_check_says_when_the_running_service_holds_the_store(tmp_path: Path, capsys) -> None:
    """While a service holds the data directory, check still reads it and says so plainly."""
    from formservice.store.tinydb.engine import TinyDBEngine

    store = store_with(tmp_path, "bp-disparue")

    async def while_running() -> tuple[int, str]:
        engine = TinyDBEngine(store)
        try:
            return check(tmp_path, capsys, NOTICE_YML.read_text(encoding="utf-8"))
        finally:
            await engine.close()

    code, out = anyio.run(while_running)
    assert code == 0 and "le service est en marche" in out and "« bp-disparue »" in out


def test_check_says_whether_the_site_shows_this_notice(
    tmp_path: Path, capsys, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The site's state is a line of the check: not published, in sync, or behind an edit."""
    text = NOTICE_YML.read_text(encoding="utf-8")
    assert "le site n'est pas publié" in check(tmp_path, capsys, text)[1]
    shutil.copytree(published_site(tmp_path_factory), tmp_path / "site")
    code, out = check(tmp_path, capsys, text)
    assert code == 0 and "il montre cette notice" in out
    code, out = check(tmp_path, capsys, text.replace("activation_hours: 48", "activation_hours: 72"))
    assert code == 0 and "pas cette notice" in out and "formservice publish" in out
