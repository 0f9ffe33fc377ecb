"""The notice: the typed schema of notice.yml (``model``), its cross-field rules
(``validation``), the French wording of its errors (``wording``, ``dates``), its line-numbered
reading (``yamldoc``, ``loading``), the notice in force (``source``), and the site built from it
(``site/``).

The names most code needs are re-exported here: ``from formservice.notice import Notice``.
"""

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
