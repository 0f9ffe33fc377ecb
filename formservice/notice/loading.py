"""Reading notice.yml: every problem in the file is reported at once, each as
``notice.yml, ligne N : champ : phrase en français``, because editors are not programmers.

A notice is read in three passes over the same line-numbered YAML (``yamldoc``): the YAML itself,
then pydantic's field checks (``model``, worded by ``wording``) and the rules spanning several
fields (``validation``), the last two side by side so that neither hides the other's problems.
A value the YAML pass could not read is reported by it alone. Whatever the file holds, loading it
raises NoticeError or returns a Notice: an editor never sees a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from formservice.notice.model import Notice
from formservice.notice.validation import cross_checks
from formservice.notice.wording import error_message, field_name
from formservice.notice.yamldoc import YamlDocument, YamlSyntaxError, compose, line_at
from formservice.typography import plural


class NoticeProblem(BaseModel):
    line: int
    field: str
    message: str
    column: int | None = None  # YAML's syntax errors know it


class NoticeError(Exception):
    """Every problem found in notice.yml, each with its line and a sentence an editor reads."""

    def __init__(self, filename: str, problems: list[NoticeProblem]):
        self.filename = filename
        self.problems = sorted(problems, key=lambda p: (p.line, p.field))
        super().__init__(self.report())

    def lines(self) -> list[str]:
        return [
            f"{self.filename}, ligne {p.line}{f', colonne {p.column}' if p.column else ''} : "
            f"{p.field or '(fichier)'} : {p.message}"
            for p in self.problems
        ]

    def summary(self, where: object = None) -> str:
        """« 3 problèmes dans notice.yml » (``where``: the path to name, the file's name by default)."""
        return f"{plural(len(self.problems), 'problème')} dans {where or self.filename}"

    def report(self) -> str:
        return "\n".join(self.lines())


def _problem(doc: YamlDocument, loc: tuple[Any, ...], message: str) -> NoticeProblem:
    """A problem about the value at `loc`, on its line (or its nearest written ancestor's)."""
    return NoticeProblem(line=doc.line(loc), field=field_name(loc), message=message)


# The notice is a few kilobytes. A file a hundred times bigger is not the notice (a log, a
# database copied over it), and reading it would keep `check` and the service busy for minutes.
MAX_BYTES = 1_000_000


def _too_big(size: int) -> NoticeProblem:
    megabytes = f"{size / 1_000_000:.1f}".replace(".", ",")
    return NoticeProblem(
        line=1,
        field="",
        message=f"fichier trop gros ({megabytes} Mo, {MAX_BYTES // 1_000_000} Mo au plus) : vérifiez "
        "qu'il s'agit bien de la note aux candidats",
    )


def parse_notice(text: str, filename: str = "notice.yml") -> Notice:
    """Validate the YAML text; raise NoticeError listing every problem."""
    if len(text) > MAX_BYTES:
        raise NoticeError(filename, [_too_big(len(text.encode("utf-8", "replace")))])
    try:
        doc = compose(text)
    except YamlSyntaxError as exc:
        problem = NoticeProblem(line=exc.line, field="", message=exc.message, column=exc.column)
        raise NoticeError(filename, [problem]) from None
    problems = [NoticeProblem(line=line, field="", message=message) for line, message in doc.problems]
    problems += [_problem(doc, path, message) for path, message in doc.unreadable.items()]
    notice: Notice | None = None
    try:
        notice = Notice.model_validate(doc.data)
    except ValidationError as exc:
        problems += [
            _problem(doc, loc, error_message(err, doc))
            for err in exc.errors()
            if not doc.already_reported(loc := tuple(err["loc"]))
        ]
    findings = cross_checks(doc.data)
    problems += [_problem(doc, loc, message) for loc, message in findings if not doc.already_reported(loc)]
    if problems or notice is None:
        raise NoticeError(filename, problems)
    return notice


def _unreadable_file(name: str, message: str, line: int = 1) -> NoticeError:
    return NoticeError(name, [NoticeProblem(line=line, field="", message=message)])


def load_notice(path: str | Path) -> Notice:
    """Read and validate the file; a missing, unreadable, too big or non-UTF-8 file is a
    NoticeError too."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise NoticeError(path.name, [_too_big(size)])
        data = path.read_bytes()
    except FileNotFoundError:
        raise _unreadable_file(path.name, "fichier introuvable") from None
    except IsADirectoryError:
        raise _unreadable_file(
            path.name, "c'est un dossier, pas un fichier : indiquez le chemin de notice.yml"
        ) from None
    except PermissionError:
        raise _unreadable_file(path.name, "lecture refusée : vérifiez les droits sur le fichier") from None
    except OSError as exc:
        raise _unreadable_file(path.name, f"fichier illisible ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start].decode("utf-8")
        raise _unreadable_file(
            path.name,
            "le fichier doit être enregistré en UTF-8 (un caractère de cette ligne ne l'est pas)",
            line_at(before, len(before)),
        ) from None
    # As a text file is read: "\r\n" and "\r" end a line as "\n" does.
    return parse_notice(text.replace("\r\n", "\n").replace("\r", "\n"), path.name)


def notice_to_json(notice: Notice) -> dict[str, Any]:
    return notice.model_dump(mode="json")


def notice_from_json(data: dict[str, Any]) -> Notice:
    """The inverse of notice_to_json. Validated in JSON mode: the model is strict, and only JSON
    mode lets strict fields read dates back from their ISO strings."""
    return Notice.model_validate_json(json.dumps(data))
