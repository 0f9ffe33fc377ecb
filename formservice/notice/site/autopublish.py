"""The running service republishes the site itself when a new valid notice comes in force.

Without it, an edit of notice.yml changed the service within a second (a new phone number in the
mails) while the site kept the old one until someone ran ``formservice publish``. ``SitePublisher``
runs the very same ``publish`` (validate, build aside with ``mkdocs build --strict``, swap in
atomically), in one background thread, one rebuild at a time: a notice saved again during a
build is rebuilt once more after it, however many saves came in between. ``publish`` also locks
the site's folder, so a ``formservice publish`` typed meanwhile waits its turn.

Its state (building, the last failure) feeds ``stamp.site_status``: the log, ``formservice
check`` and the staff home say whether the site shows the notice in force.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from formservice.notice.site.publish import PublishError, publish

log = logging.getLogger("formservice.site")

Publish = Callable[[Path, Path], None]


class SitePublisher:
    def __init__(self, notice_path: Path, site_dir: Path, *, build: Publish = publish):
        self.notice_path = Path(notice_path)
        self.site_dir = Path(site_dir)
        self._build = build
        self._lock = threading.Lock()
        self._pending = False
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()
        self._idle.set()
        self.failure: str | None = None  # why the last rebuild failed; None after a success

    @property
    def publishing(self) -> bool:
        return not self._idle.is_set()

    def request(self) -> None:
        """Rebuild the site from notice.yml as it is now, soon; returns at once."""
        with self._lock:
            self._pending = True
            if self._thread is not None and self._thread.is_alive():
                return  # the running worker will build once more
            self._idle.clear()
            self._thread = threading.Thread(target=self._work, name="site-publisher", daemon=True)
            self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no rebuild is pending (for commands and tests); False on timeout."""
        return self._idle.wait(timeout)

    def _work(self) -> None:
        while True:
            with self._lock:
                if not self._pending:
                    self._thread = None
                    self._idle.set()
                    return
                self._pending = False
            self._publish_once()

    def _publish_once(self) -> None:
        try:
            self._build(self.notice_path, self.site_dir)
        except PublishError as exc:
            self.failure = str(exc).splitlines()[0]
            log.error("republication du site en échec : le site en ligne n'a pas changé.\n%s", exc)
        except Exception as exc:  # a crash of the build must not take the worker down silently
            self.failure = f"erreur inattendue : {exc}"
            log.exception("republication du site en échec : le site en ligne n'a pas changé")
        else:
            self.failure = None
            log.info("site republié dans %s à partir de %s", self.site_dir, self.notice_path)
