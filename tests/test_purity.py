"""The domain core imports neither Starlette nor the store nor Jinja (house rule 2)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "formservice"
FORBIDDEN = ("starlette", "tinydb", "jinja2", "formservice.store", "uvicorn", "httpx")


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize(
    "module",
    [
        "accounts.py",
        "deadlines.py",
        "enrolment.py",
        "uploads.py",
        "upload_pdf.py",
        "upload_types.py",
        "clock.py",
        "ratelimit.py",
        "tokens.py",
    ],
)
def test_domain_module_is_pure(module):
    """accounts.py and the other rule modules import no web, template or storage library."""
    bad = {n for n in imports_of(PACKAGE / module) if n.startswith(FORBIDDEN)}
    assert not bad, f"{module} imports {bad}"
