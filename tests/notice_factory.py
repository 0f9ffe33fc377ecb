"""Build Notice objects from the repository's notice.yml with some values changed, as an editor
would: tests never hard-code a fact of the notice."""

from __future__ import annotations

import re
from pathlib import Path

from formservice.notice import Notice, parse_notice

REPO = Path(__file__).resolve().parent.parent
NOTICE_YML = REPO / "notice.yml"


def edited_notice_text(**registration: str) -> str:
    """notice.yml with `registration.<key>: value` replaced (values written as in the YAML)."""
    text = NOTICE_YML.read_text(encoding="utf-8")
    for key, value in registration.items():
        text, n = re.subn(rf"(?m)^(  {key}:) .*$", rf"\g<1> {value}", text)
        assert n == 1, key
    return text


def notice_with(**registration: str) -> Notice:
    return parse_notice(edited_notice_text(**registration))
