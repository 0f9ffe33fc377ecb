"""Which notice a published site shows: ``site/publication.json``, written by every build.

The form service applies a new notice.yml within a second; the site shows it only once it is
rebuilt. To tell whether the two agree, each build records the fingerprint (SHA-256) and the
modification time of the notice.yml it was built from, and when; the service, ``formservice
check`` and the staff home compare it with the notice in force and say so in French.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from formservice.frenchdates import datetime_fr

STAMP_NAME = "publication.json"


def fingerprint(data: bytes) -> str:
    """What identifies a version of notice.yml: the SHA-256 of its bytes."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class NoticeVersion:
    """A version of notice.yml: its fingerprint and when the file was saved (aware, UTC)."""

    sha256: str
    modified: datetime

    @classmethod
    def of_file(cls, path: Path) -> NoticeVersion:
        """The version on disk now (OSError if the file cannot be read)."""
        data = path.read_bytes()
        modified = datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(microsecond=0)
        return cls(fingerprint(data), modified)


@dataclass(frozen=True)
class SiteStamp:
    """What a published site was built from, and when."""

    notice: NoticeVersion
    published: datetime  # aware, UTC

    def to_json(self) -> str:
        return (
            json.dumps(
                {
                    "notice_sha256": self.notice.sha256,
                    "notice_modified": self.notice.modified.isoformat(),
                    "published": self.published.isoformat(),
                },
                indent=2,
            )
            + "\n"
        )


def write_stamp(site_dir: Path, notice: NoticeVersion, published: datetime) -> None:
    (Path(site_dir) / STAMP_NAME).write_text(SiteStamp(notice, published).to_json(), encoding="utf-8")


def read_stamp(site_dir: Path) -> SiteStamp | None:
    """The stamp of the site in ``site_dir``; None if it is not published (or too old to have one)."""
    try:
        data = json.loads((Path(site_dir) / STAMP_NAME).read_text(encoding="utf-8"))
        version = NoticeVersion(str(data["notice_sha256"]), datetime.fromisoformat(data["notice_modified"]))
        return SiteStamp(version, datetime.fromisoformat(data["published"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class SiteStatus:
    """Whether the site shows the notice in force, said in one French sentence."""

    in_sync: bool
    message: str


def site_status(
    stamp: SiteStamp | None,
    in_force: NoticeVersion,
    tz: ZoneInfo,
    *,
    publishing: bool = False,
    failure: str | None = None,
    subject: str = "la notice en vigueur",
    todo: str = "lancez formservice publish",
) -> SiteStatus:
    """``publishing``: a rebuild is under way; ``failure``: why the last one failed, if it did;
    ``subject``: how to name ``in_force``; ``todo``: what to do when nothing is under way."""

    def when(moment: datetime) -> str:
        return datetime_fr(moment.astimezone(tz))

    if stamp is not None and stamp.notice.sha256 == in_force.sha256:
        return SiteStatus(
            True,
            f"Site publié le {when(stamp.published)} à partir de la notice du "
            f"{when(stamp.notice.modified)} : il montre {subject}.",
        )
    if publishing:
        todo = "sa publication est en cours"
    elif failure:
        todo = f"sa publication a échoué ({failure}) ; corrigez, puis {todo}"
    if stamp is None:
        return SiteStatus(False, f"Attention : le site n'est pas publié : {todo}.")
    return SiteStatus(
        False,
        f"Attention : le site publié le {when(stamp.published)} montre la notice du "
        f"{when(stamp.notice.modified)}, pas {subject} (du {when(in_force.modified)}) : {todo}.",
    )
