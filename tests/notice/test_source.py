"""notice.yml re-read on change; an invalid edit keeps the last valid notice and is logged."""

from __future__ import annotations

import logging
import os

import pytest

from formservice.notice import NoticeError
from formservice.notice.source import NoticeSource


def touch_later(path, seconds):
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + seconds * 1_000_000_000))


def test_reload_on_change(notice_path):
    """Editing a phone number takes effect at the next check, without restart."""
    source = NoticeSource(notice_path, check_interval=0)
    assert source.current().poles[0].phones[0] == "05 16 52 64 55"
    notice_path.write_text(notice_path.read_text().replace("05 16 52 64 55", "05 49 00 00 00"))
    touch_later(notice_path, 2)
    assert source.current().poles[0].phones[0] == "05 49 00 00 00"


def test_invalid_edit_keeps_previous_and_logs_report(notice_path, caplog):
    """A broken edit is logged with its line-numbered French report; the previous notice stays."""
    source = NoticeSource(notice_path, check_interval=0)
    text = notice_path.read_text()
    notice_path.write_text(text.replace("activation_hours: 48", "activation_hours: beaucoup"))
    touch_later(notice_path, 2)
    with caplog.at_level(logging.ERROR, logger="formservice.notice"):
        notice = source.current()
    assert notice.registration.activation_hours == 48
    assert "ligne" in caplog.text and "activation_hours" in caplog.text
    assert source.last_error is not None
    notice_path.write_text(text.replace("activation_hours: 48", "activation_hours: 24"))
    touch_later(notice_path, 4)
    assert source.current().registration.activation_hours == 24 and source.last_error is None


def test_first_load_must_succeed(tmp_path):
    """With no valid notice to fall back on, the source refuses to start."""
    with pytest.raises(NoticeError):
        NoticeSource(tmp_path / "absent.yml")
