"""The notice in force: notice.yml, re-read when it changes, never replaced by a broken edit.

An editor who moves a date or a phone number sees it take effect without a restart. An edit with
a mistake is logged with the loader's line-numbered French report, and the last valid notice
stays in force, so a typo never takes the service down.

Use ``request.app.state.services.notices.current()`` (or ``services(request).notice()``): it costs
at most one ``stat()`` per ``check_interval`` seconds. ``version`` is the fingerprint of the file
in force (compared with the published site's stamp); ``on_change`` callbacks run after a new
notice came in force (the site's republication, ``site/autopublish.py``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from formservice.notice import Notice, NoticeError, load_notice
from formservice.notice.site.stamp import NoticeVersion

log = logging.getLogger("formservice.notice")


class NoticeSource:
    def __init__(self, path: Path, *, check_interval: float = 1.0):
        """Load the notice now; raise NoticeError if the first load fails (nothing to fall back on)."""
        self.path = Path(path)
        self.check_interval = check_interval
        self._lock = threading.Lock()
        self._signature = self._stat()
        self.version = self._version()
        self._notice = load_notice(self.path)
        self._checked_at = time.monotonic()
        self.last_error: NoticeError | None = None
        self._listeners: list[Callable[[], None]] = []

    def on_change(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` each time a new valid notice comes in force."""
        self._listeners.append(callback)

    def _version(self) -> NoticeVersion:
        """The file's fingerprint, read before it is parsed: what is in force is at most as new."""
        try:
            return NoticeVersion.of_file(self.path)
        except OSError:  # load_notice reports it in the editor's words
            return NoticeVersion("", datetime.now(UTC).replace(microsecond=0))

    def _stat(self) -> tuple[int, ...] | None:
        """What changes when an editor saves: the inode too, for editors that write a new file
        and rename it over the old one, and the change time, which no editor can set back."""
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)

    def current(self) -> Notice:
        now = time.monotonic()
        if now - self._checked_at >= self.check_interval:
            self.refresh()
        return self._notice

    def refresh(self) -> bool:
        """Re-read the file if it changed; True if a new notice is now in force."""
        with self._lock:
            self._checked_at = time.monotonic()
            signature = self._stat()
            if signature == self._signature:
                return False
            self._signature = signature
            version = self._version()
            try:
                notice = load_notice(self.path)
            except NoticeError as exc:
                self.last_error = exc
                log.error(
                    "notice.yml modifié mais invalide : la version précédente reste en vigueur.\n%s",
                    exc.report(),
                )
                return False
            self._notice = notice
            changed = version.sha256 != self.version.sha256  # not merely saved again as it was
            self.version = version
            self.last_error = None
            log.info("notice.yml rechargé")
        for callback in self._listeners if changed else ():
            callback()
        return True
