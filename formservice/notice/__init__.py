"""The notice: the typed schema of notice.yml, its validation, its line-numbered reading, the
notice in force (``source``), and the site built from it (``site/``).

The names most code needs are re-exported here: ``from formservice.notice import Notice``.
"""

from formservice.notice.model import (
    Academie,
    Condition,
    Document,
    Download,
    Exam,
    Notice,
    NoticeError,
    NoticeProblem,
    Pole,
    Registration,
    Session,
    Speciality,
    Step,
    Uploads,
    load_notice,
    notice_from_json,
    notice_to_json,
    parse_notice,
)

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
    "notice_from_json",
    "notice_to_json",
    "parse_notice",
]
