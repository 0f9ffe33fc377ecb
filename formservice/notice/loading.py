"""Reading notice.yml: every problem in the file is reported at once, each as
``notice.yml, ligne N : champ : phrase en français``, because editors are not programmers.

A notice is read in three passes over the same line-numbered YAML (``yamldoc``): the YAML itself,
then pydantic's field checks (``model``, worded by ``wording``) and the rules spanning several
fields (``validation``), the last two side by side so that neither hides the other's problems.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from formservice.notice.model import Notice
from formservice.notice.validation import cross_checks
from formservice.notice.wording import error_message, field_name
from formservice.notice.yamldoc import YamlDocument, YamlSyntaxError, compose


class NoticeProblem(BaseModel):
    line: int
    field: str
    message: str


class NoticeError(Exception):
    """Every problem found in notice.yml, each with its line and a sentence an editor reads."""

    def __init__(self, filename: str, problems: list[NoticeProblem]):
        self.filename = filename
        self.problems = sorted(problems, key=lambda p: (p.line, p.field))
        super().__init__(self.report())

    def lines(self) -> list[str]:
        return [
            f"{self.filename}, ligne {p.line} : {p.field or '(fichier)'} : {p.message}" for p in self.problems
        ]

    def report(self) -> str:
        return "\n".join(self.lines())


def _problem(doc: YamlDocument, loc: tuple[Any, ...], message: str) -> NoticeProblem:
    """A problem about the value at `loc`, on its line (or its nearest written ancestor's)."""
    return NoticeProblem(line=doc.line(loc), field=field_name(loc), message=message)


def parse_notice(text: str, filename: str = "notice.yml") -> Notice:
    """Validate the YAML text; raise NoticeError listing every problem."""
    try:
        doc = compose(text)
    except YamlSyntaxError as exc:
        raise NoticeError(filename, [NoticeProblem(line=exc.line, field="", message=exc.message)]) from None
    problems = [NoticeProblem(line=line, field="", message=message) for line, message in doc.problems]
    notice: Notice | None = None
    try:
        notice = Notice.model_validate(doc.data)
    except ValidationError as exc:
        problems += [_problem(doc, tuple(err["loc"]), error_message(err, doc)) for err in exc.errors()]
    problems += [_problem(doc, loc, message) for loc, message in cross_checks(doc.data)]
    if problems or notice is None:
        raise NoticeError(filename, problems)
    return notice


def load_notice(path: str | Path) -> Notice:
    """Read and validate the file; a missing or non-UTF-8 file is a NoticeError too."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NoticeError(
            path.name, [NoticeProblem(line=1, field="", message="fichier introuvable")]
        ) from None
    except UnicodeDecodeError:
        raise NoticeError(
            path.name, [NoticeProblem(line=1, field="", message="le fichier doit être enregistré en UTF-8")]
        ) from None
    return parse_notice(text, path.name)


def notice_to_json(notice: Notice) -> dict[str, Any]:
    return notice.model_dump(mode="json")


def notice_from_json(data: dict[str, Any]) -> Notice:
    """The inverse of notice_to_json. Validated in JSON mode: the model is strict, and only JSON
    mode lets strict fields read dates back from their ISO strings."""
    return Notice.model_validate_json(json.dumps(data))
