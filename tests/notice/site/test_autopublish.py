"""The running service republishes the site itself: one build at a time, the last edit always
built, a failed build changing nothing and saying why; the stamp tells which notice a site shows."""

from __future__ import annotations

import re
import shutil
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from site_fixtures import NOTICE, copy_site, published_site, read_page
from typography_helpers import page_text

from formservice.notice import load_notice
from formservice.notice.site.autopublish import SitePublisher
from formservice.notice.site.publish import publish
from formservice.notice.site.stamp import NoticeVersion, read_stamp, site_status
from formservice.typography import french_text

MODEL = load_notice(NOTICE)
OLD_PHONE = MODEL.poles[0].phones[0]


def with_phone(notice: Path, phone: str) -> None:
    """What an editor does: change the first pôle's first phone number in notice.yml."""
    text = notice.read_text(encoding="utf-8")
    edited = re.sub(r'(?m)^(\s+phones: \[)"[^"]*"', rf'\1"{phone}"', text, count=1)
    assert edited != text
    notice.write_text(edited, encoding="utf-8")


@pytest.fixture
def copy(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A copy of notice.yml and of the site published from it."""
    notice = tmp_path / "notice.yml"
    shutil.copy(NOTICE, notice)
    return notice, copy_site(published_site(tmp_path_factory), tmp_path / "site")


def test_the_stamp_says_which_notice_the_site_shows(copy: tuple[Path, Path]) -> None:
    """A build records the fingerprint of its notice.yml; an edit makes the status say they differ."""
    notice, site = copy
    stamp = read_stamp(site)
    assert stamp is not None and stamp.notice == NoticeVersion.of_file(NOTICE)
    status = site_status(stamp, NoticeVersion.of_file(notice), MODEL.tz)
    assert status.in_sync and status.message.startswith("Site publié le ")
    with_phone(notice, "05 16 52 60 01")
    status = site_status(stamp, NoticeVersion.of_file(notice), MODEL.tz)
    assert not status.in_sync and "pas la notice en vigueur" in status.message
    assert "formservice publish" in status.message
    assert not site_status(None, NoticeVersion.of_file(notice), MODEL.tz).in_sync


def test_edits_during_a_build_are_built_once_after_it_one_build_at_a_time(copy: tuple[Path, Path]) -> None:
    """Three saves while a build runs give one more build, never two at once, and the site ends
    with the last save's phone number and stamp."""
    notice, site = copy
    running = threading.Semaphore(1)
    builds: list[tuple[float, float]] = []

    def build(notice_path: Path, site_dir: Path) -> None:
        assert running.acquire(blocking=False), "two builds at once"
        try:
            start = time.monotonic()
            publish(notice_path, site_dir)
            builds.append((start, time.monotonic()))
        finally:
            running.release()

    publisher = SitePublisher(notice, site, build=build)
    with_phone(notice, "05 16 52 60 01")
    publisher.request()
    for n in (2, 3, 4):
        with_phone(notice, f"05 16 52 60 0{n}")
        publisher.request()
    assert publisher.wait(timeout=120)
    assert 1 <= len(builds) <= 2 and not publisher.publishing and publisher.failure is None
    contacts = read_page(site / "contacts/index.html").text
    assert french_text("05 16 52 60 04") in contacts and french_text(OLD_PHONE) not in contacts
    assert read_stamp(site).notice == NoticeVersion.of_file(notice)


def test_a_failed_rebuild_keeps_the_site_and_says_why(copy: tuple[Path, Path]) -> None:
    """A notice the build refuses leaves the site as it was; the status names the failure."""
    notice, site = copy
    before = (site / "contacts/index.html").read_bytes()
    notice.write_text(
        notice.read_text(encoding="utf-8").replace("activation_hours: 48", "activation_hours: 0")
    )
    publisher = SitePublisher(notice, site)
    publisher.request()
    assert publisher.wait(timeout=120)
    assert (site / "contacts/index.html").read_bytes() == before
    assert publisher.failure and "problème" in publisher.failure
    status = site_status(read_stamp(site), NoticeVersion.of_file(notice), MODEL.tz, failure=publisher.failure)
    assert not status.in_sync and "a échoué" in status.message


@pytest.mark.anyio
async def test_the_running_service_republishes_after_an_edit(settings, clock, tmp_path_factory) -> None:
    """With autopublish (the default of `formservice serve`), the service publishes a site that
    lags behind at start, then again within seconds of an edit of notice.yml that no page asked
    for; its status then says the site shows the notice in force."""
    from formservice.store.memory import MemoryEngine
    from formservice.web.app import create_app

    shutil.copytree(published_site(tmp_path_factory), settings.site_dir)
    with_phone(settings.notice_path, "05 16 52 60 07")  # edited before the start
    app = create_app(settings.with_(site_autopublish=True), engine=MemoryEngine(), clock=clock)
    svc = app.state.services
    async with app.router.lifespan_context(app):
        await wait_for(lambda: svc.site_status().in_sync)
        assert french_text("05 16 52 60 07") in page_text(
            (settings.site_dir / "contacts/index.html").read_text()
        )
        with_phone(settings.notice_path, "05 16 52 60 08")
        await wait_for(
            lambda: (
                "05\u00a016\u00a052\u00a060\u00a008"
                in (settings.site_dir / "contacts/index.html").read_text()
            )
        )
        await wait_for(lambda: svc.site_status().in_sync)
        assert "il montre la notice en vigueur" in svc.site_status().message


async def wait_for(predicate, timeout: float = 120.0) -> None:
    import anyio

    deadline = datetime.now(UTC).timestamp() + timeout
    while not predicate():
        assert datetime.now(UTC).timestamp() < deadline, "timed out"
        await anyio.sleep(0.2)
