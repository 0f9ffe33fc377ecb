"""`formservice publish` and the MkDocs hook: an edit reaches the site, a failure changes nothing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import icalendar
import pytest
from mkdocs.config import load_config
from mkdocs.exceptions import PluginError
from site_fixtures import NOTICE, ROOT, copy_site, published_site, read_page, snapshot

from formservice.frenchdates import datetime_fr
from formservice.notice import load_notice, notice_from_json
from formservice.notice.site import hook as site_hook
from formservice.notice.site.publish import PublishError, mkdocs_problems, publish
from formservice.typography import french_text

MODEL = load_notice(NOTICE)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return published_site(tmp_path_factory)


def replace_line(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith((".site.new-", ".site.old-"))]


def test_editing_a_copy_and_republishing_changes_the_site(site: Path, tmp_path: Path) -> None:
    """A new closing time and a new phone in a copy of notice.yml reach every page, the .ics and the .json."""
    old_phone = MODEL.poles[0].phones[0]
    taken = {p for pole in MODEL.poles for p in pole.phones}
    new_phone = next(p for n in range(100) if (p := f"{old_phone[:-2]}{n:02d}") not in taken)
    old_closes = MODEL.registration.closes
    new_closes = old_closes + timedelta(days=1, minutes=30)
    text = NOTICE.read_text(encoding="utf-8")
    text = replace_line(text, f"closes: {old_closes:%Y-%m-%d %H:%M}", f"closes: {new_closes:%Y-%m-%d %H:%M}")
    text = replace_line(text, f'phones: ["{old_phone}"', f'phones: ["{new_phone}"')
    edited = tmp_path / "notice.yml"
    edited.write_text(text, encoding="utf-8")
    target = copy_site(site, tmp_path / "site")
    (target / "stale.html").write_text("vieux", encoding="utf-8")

    command = ["publish", "--notice", str(edited), "--site-dir", str(target)]
    done = subprocess.run(
        [sys.executable, "-m", "formservice.cli", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 0, done.stderr
    assert not (target / "stale.html").exists()  # a clean build, swapped in whole
    home, contacts = read_page(target / "index.html"), read_page(target / "contacts/index.html")
    window = home.section("dates")  # the documents deadline, unchanged, is stated elsewhere on the page
    assert datetime_fr(new_closes) in window and datetime_fr(old_closes) not in window
    assert french_text(new_phone) in contacts.text and french_text(old_phone) not in contacts.text
    assert "tel:+33" + new_phone.replace(" ", "")[1:] in contacts.hrefs()
    calendar = icalendar.Calendar.from_ical((target / "calendrier.ics").read_bytes())
    closing = next(e for e in calendar.walk("VEVENT") if str(e["UID"]).startswith("cloture"))
    assert closing.decoded("DTSTART") == MODEL.local(new_closes)
    republished = notice_from_json(json.loads((target / "notice.json").read_text(encoding="utf-8")))
    assert republished == load_notice(edited)
    assert not leftovers(tmp_path)


def broken_config(tmp_path: Path, page_text: str) -> Path:
    """A copy of mkdocs.yml and docs/ whose home page holds `page_text`."""
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    (tmp_path / "docs" / "index.md").write_text(page_text, encoding="utf-8")
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    config = replace_line(
        config,
        "- formservice/notice/site/hook.py",
        f"- {ROOT / 'formservice' / 'notice' / 'site' / 'hook.py'}",
    )
    (tmp_path / "mkdocs.yml").write_text(config, encoding="utf-8")
    return tmp_path / "mkdocs.yml"


def test_failed_build_leaves_the_previous_site_and_says_why(site: Path, tmp_path: Path) -> None:
    """An unknown value in a page fails the build: PublishError quotes MkDocs, the site is unchanged."""
    target = copy_site(site, tmp_path / "out" / "site")
    before = snapshot(target)
    config = broken_config(tmp_path / "project", "# Titre\n\n{{ notice.session.nom_inconnu }}\n")

    with pytest.raises(PublishError) as caught:
        publish(NOTICE, target, config_file=config)

    message = str(caught.value)
    assert "index.md, ligne 3" in message and "nom_inconnu" in message
    assert "mkdocs build --strict" in message
    assert snapshot(target) == before
    assert not leftovers(target.parent)


def test_broken_link_fails_the_strict_build(site: Path, tmp_path: Path) -> None:
    """A link to a missing page is a warning, and --strict turns it into a failed publish."""
    target = copy_site(site, tmp_path / "out" / "site")
    before = snapshot(target)
    config = broken_config(tmp_path / "project", "# Titre\n\n[perdu](page-absente.md)\n")

    with pytest.raises(PublishError) as caught:
        publish(NOTICE, target, config_file=config)

    assert "page-absente.md" in str(caught.value)
    assert snapshot(target) == before


def test_invalid_notice_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    """publish() raises PublishError with the editor report; no site and no temporary folder remain."""
    bad = tmp_path / "notice.yml"
    bad.write_text(NOTICE.read_text(encoding="utf-8").replace("timezone: ", "fuseau: ", 1), encoding="utf-8")

    with pytest.raises(PublishError) as caught:
        publish(bad, tmp_path / "site")

    assert "notice.yml, ligne" in str(caught.value) and "fuseau" in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notice.yml"]


def test_mkdocs_problems_keeps_errors_with_their_continuation_lines() -> None:
    """Only warnings and errors of MkDocs's output are quoted, multi-line reports included."""
    output = (
        "INFO    -  Cleaning site directory\n"
        "\x1b[31mERROR   -  2 problème(s) dans notice.yml :\x1b[0m\n"
        "notice.yml, ligne 3 : timezone : champ obligatoire absent\n"
        "INFO    -  Building documentation\n"
        "WARNING -  Doc file 'a.md' contains a link 'b.md', but the target is not found\n"
        "\nAborted with a BuildError!\n"
    )
    assert mkdocs_problems(output) == [
        "ERROR   -  2 problème(s) dans notice.yml :",
        "notice.yml, ligne 3 : timezone : champ obligatoire absent",
        "WARNING -  Doc file 'a.md' contains a link 'b.md', but the target is not found",
        "Aborted with a BuildError!",
    ]


# -- the hook on its own -------------------------------------------------------------------


def test_hook_reads_the_notice_named_by_the_environment_and_watches_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """on_config loads $FORMSERVICE_NOTICE and adds it to config.watch, so `mkdocs serve` reloads on edit."""
    copy = tmp_path / "notice.yml"
    shutil.copy(NOTICE, copy)
    monkeypatch.setenv(site_hook.NOTICE_ENV, str(copy))
    config = site_hook.on_config(load_config(str(ROOT / "mkdocs.yml")))
    assert str(copy.resolve()) in config.watch
    assert config.site_name == MODEL.academie.name


def test_hook_defaults_to_the_notice_beside_mkdocs_yml(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without $FORMSERVICE_NOTICE the hook uses notice.yml next to mkdocs.yml."""
    monkeypatch.delenv(site_hook.NOTICE_ENV, raising=False)
    config = site_hook.on_config(load_config(str(ROOT / "mkdocs.yml")))
    assert str(NOTICE.resolve()) in config.watch


def test_hook_aborts_the_build_with_the_editor_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An invalid notice stops the build in on_config with the line-numbered French report."""
    bad = tmp_path / "notice.yml"
    bad.write_text(NOTICE.read_text(encoding="utf-8").replace("timezone: ", "fuseau: ", 1), encoding="utf-8")
    monkeypatch.setenv(site_hook.NOTICE_ENV, str(bad))
    with pytest.raises(PluginError) as caught:
        site_hook.on_config(load_config(str(ROOT / "mkdocs.yml")))
    assert "notice.yml, ligne" in str(caught.value) and "fuseau : clé inconnue" in str(caught.value)


def test_hook_refuses_an_undefined_placeholder(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages render with StrictUndefined: a typo in a placeholder is an error naming the page and line."""
    monkeypatch.delenv(site_hook.NOTICE_ENV, raising=False)
    config = site_hook.on_config(load_config(str(ROOT / "mkdocs.yml")))
    page: Any = SimpleNamespace(file=SimpleNamespace(src_uri="essai.md"), is_homepage=False, meta={})
    files: Any = None
    rendered = site_hook.on_page_markdown("{{ closes }}", page, config, files)
    assert rendered == datetime_fr(MODEL.registration.closes)
    with pytest.raises(PluginError) as caught:
        site_hook.on_page_markdown("# Titre\n\n{{ clotures }}\n", page, config, files)
    assert "essai.md, ligne 3" in str(caught.value) and "clotures" in str(caught.value)
