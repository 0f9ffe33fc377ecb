"""The notice: the typed schema of notice.yml (``model``), its cross-field rules
(``validation``), the French wording of its errors (``wording``, ``dates``), its line-numbered
reading (``yamldoc``, ``loading``), the notice in force (``source``), and the site built from it
(``site/``).

The names most code needs are re-exported here: ``from formservice.notice import Notice``. They
are loaded on first use (PEP 562): importing ``formservice.notice.site.publish`` must not pay for
pydantic before it starts the site's build process, whose start-up it overlaps with its own.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from formservice.notice.loading import (
        NoticeError,
        NoticeProblem,
        load_notice,
        notice_from_json,
        notice_to_json,
        parse_notice,
    )
    from formservice.notice.model import (
        Academie,
        Condition,
        Document,
        Download,
        Exam,
        Notice,
        Pole,
        Registration,
        Session,
        Speciality,
        Step,
        Uploads,
        normalise_phone,
    )

_WHERE = {
    "NoticeError": "formservice.notice.loading",
    "NoticeProblem": "formservice.notice.loading",
    "load_notice": "formservice.notice.loading",
    "notice_from_json": "formservice.notice.loading",
    "notice_to_json": "formservice.notice.loading",
    "parse_notice": "formservice.notice.loading",
    "Academie": "formservice.notice.model",
    "Condition": "formservice.notice.model",
    "Document": "formservice.notice.model",
    "Download": "formservice.notice.model",
    "Exam": "formservice.notice.model",
    "Notice": "formservice.notice.model",
    "Pole": "formservice.notice.model",
    "Registration": "formservice.notice.model",
    "Session": "formservice.notice.model",
    "Speciality": "formservice.notice.model",
    "Step": "formservice.notice.model",
    "Uploads": "formservice.notice.model",
    "normalise_phone": "formservice.notice.model",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'formservice.notice' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "Academie",
    "Condition",
    "Document",
    "Download",
    "Exam",
    "Notice",
    "NoticeError",
    "NoticeProblem",
    "Pole",
    "Registration",
    "Session",
    "Speciality",
    "Step",
    "Uploads",
    "load_notice",
    "normalise_phone",
    "notice_from_json",
    "notice_to_json",
    "parse_notice",
]
