"""`formservice publish`: validate notice.yml, build the site aside, swap it in only on success.

The build runs `mkdocs build --strict` in a child process, exactly as an editor or CI would: the
hook and the theme are loaded afresh each time and nothing (logging handlers, Jinja caches)
leaks into a long-running caller such as the form service. It never uses `--dirty`, which
would miss a change made only to notice.yml.

The notice is validated first in the sense that matters: its report decides, and nothing is
built from an invalid notice that anyone could see (see `_validate_and_build`).

A failed publish leaves the previous site untouched: the new site is built in a temporary
folder beside `site_dir` (same file system, so the swap is two renames) and the old one is only
removed once the new one is in place.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

NOTICE_ENV = "FORMSERVICE_NOTICE"  # read by formservice/notice/site/hook.py
BUILD_TIMEOUT_S = 600
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
_LOG_LINE_RE = re.compile(r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL)\s+-\s")


class PublishError(Exception):
    """Why nothing was published, in French; the previous site is untouched."""


def default_config_file() -> Path:
    """mkdocs.yml at the repository root (beside the formservice package), else in the cwd."""
    beside_package = Path(__file__).resolve().parents[3] / "mkdocs.yml"
    return beside_package if beside_package.is_file() else Path("mkdocs.yml").resolve()


def publish(notice_path: Path, site_dir: Path, *, config_file: Path | None = None) -> None:
    """Validate `notice_path`, build the site with it and replace `site_dir` on success only."""
    notice_path = Path(notice_path).resolve()
    site_dir = Path(site_dir).resolve()
    config = Path(config_file).resolve() if config_file else default_config_file()
    if not config.is_file():
        raise PublishError(f"configuration du site introuvable : {config}")
    site_dir.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(site_dir.parent):
        _remove_leftovers(site_dir)
        new = Path(tempfile.mkdtemp(prefix=f".{site_dir.name}.new-", dir=site_dir.parent))
        new.chmod(0o755)  # mkdtemp's 0700 would hide the site from a web server's user
        try:
            _validate_and_build(config, notice_path, new)
            _swap(new, site_dir)
        finally:
            shutil.rmtree(new, ignore_errors=True)  # a no-op after a successful swap


def _validate_and_build(config: Path, notice_path: Path, target: Path) -> None:
    """Validation decides; the build is only started early, into the throw-away `target`.

    Both the validation here and the build process spend most of their few hundred milliseconds
    starting Python and pydantic, so they run side by side; the build's outcome is looked at
    only once the notice is known to be valid, and an invalid notice stops the build and
    raises the editor's report, exactly as if the build had never started.
    """
    env = {**os.environ, NOTICE_ENV: str(notice_path), "NO_MKDOCS_2_WARNING": "1"}
    command = [
        sys.executable, "-m", "mkdocs", "build", "--strict", "--clean",
        "--config-file", str(config), "--site-dir", str(target),
    ]  # fmt: skip
    with subprocess.Popen(
        command, cwd=config.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as build:
        # Imported only now: pydantic's start-up then overlaps with the build process's.
        from formservice.notice import NoticeError, load_notice

        try:
            load_notice(notice_path)
        except NoticeError as exc:
            build.kill()
            build.communicate()
            raise PublishError(f"{exc.summary(notice_path)} :\n{exc.report()}") from None
        try:
            stdout, stderr = build.communicate(timeout=BUILD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            build.kill()
            build.communicate()
            raise PublishError(f"la construction du site a dépassé {BUILD_TIMEOUT_S} s : abandon") from None
    if build.returncode != 0:
        details = "\n".join(mkdocs_problems(stdout + "\n" + stderr))
        raise PublishError(f"la construction du site a échoué (mkdocs build --strict) :\n{details}")


def mkdocs_problems(output: str) -> list[str]:
    """MkDocs's warnings and errors, with their continuation lines (our hook's multi-line report)."""
    kept: list[str] = []
    keeping = False
    for raw in output.splitlines():
        line = _ANSI_RE.sub("", raw).rstrip()
        match = _LOG_LINE_RE.match(line)
        if match:
            keeping = match.group(1) in ("WARNING", "ERROR", "CRITICAL")
        elif line.startswith(("Aborted", "Error", "Traceback")):
            keeping = True
        if keeping and line:
            kept.append(line)
    if not kept:  # an unexpected crash: show the end of the output as it is
        kept = [_ANSI_RE.sub("", line) for line in output.strip().splitlines()[-20:]]
    return kept


def _swap(new: Path, site_dir: Path) -> None:
    old: Path | None = None
    if site_dir.exists():
        old = site_dir.with_name(f".{site_dir.name}.old-{uuid.uuid4().hex[:8]}")
        site_dir.rename(old)
    try:
        new.rename(site_dir)
    except OSError as exc:
        if old is not None:
            old.rename(site_dir)  # put the previous site back
        raise PublishError(f"impossible de mettre le nouveau site en place : {exc}") from None
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _remove_leftovers(site_dir: Path) -> None:
    """Folders left by a publish that was killed midway (we hold the lock: none is in use)."""
    for pattern in (f".{site_dir.name}.new-*", f".{site_dir.name}.old-*"):
        for leftover in site_dir.parent.glob(pattern):
            shutil.rmtree(leftover, ignore_errors=True)


@contextlib.contextmanager
def _exclusive(folder: Path) -> Iterator[None]:
    """Two publishes at once would swap each other's folders: the second waits for the first.
    The lock is taken on the folder itself, so no lock file is left lying around."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
