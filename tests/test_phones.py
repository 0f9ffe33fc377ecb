"""One reading of phone numbers for the whole package (formservice.phones): the pôles' numbers in
notice.yml and the candidate's number in the form are normalised by the same function."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from formservice.enrolment import form
from formservice.notice import normalise_phone
from formservice.phones import format_phone

FRENCH_WRITINGS = [
    "0516526455",
    "05 16 52 64 55",
    "05.16.52.64.55",
    "05-16-52-64-55",
    " 05 16 52 64 55 ",
    "05\u00a016\u00a052\u00a064\u00a055",  # no-break spaces, as a copy from a web page gives
    "+33516526455",
    "+33 5 16 52 64 55",
    "+33.5.16.52.64.55",
]
NOT_FRENCH = ["05 16 52 64 5", "05 16 52 64 555", "00 16 52 64 55", "5 16 52 64 55", "05 16 52 64 5a", ""]
INTERNATIONAL = {
    "+44 20 7946 0958": "+442079460958",
    "+1-202-555-0143": "+12025550143",
    "+49.30.1234567": "+49301234567",
    "+12345678": "+12345678",  # 8 digits, the fewest
    "+123456789012345": "+123456789012345",  # 15 digits, the most
}
NOT_A_NUMBER = [
    "+1234567",  # 7 digits
    "+1234567890123456",  # 16 digits
    "++44 20 7946 0958",
    "+44 (20) 7946 0958",
    "0044 20 7946 0958",
]


@pytest.mark.parametrize("written", FRENCH_WRITINGS)
def test_french_number_is_shown_in_pairs(written: str) -> None:
    """However a French number is written, it is shown as five pairs of digits."""
    assert format_phone(written) == "05 16 52 64 55"
    assert format_phone(written, international=True) == "05 16 52 64 55"


@pytest.mark.parametrize("written", NOT_FRENCH)
def test_number_that_is_not_a_french_one_is_none(written: str) -> None:
    assert format_phone(written) is None
    assert format_phone(written, international=True) is None


@pytest.mark.parametrize(("written", "shown"), INTERNATIONAL.items())
def test_international_number_only_where_allowed(written: str, shown: str) -> None:
    """`+` and 8 to 15 digits: kept without separators where allowed, refused otherwise."""
    assert format_phone(written, international=True) == shown
    assert format_phone(written) is None


@pytest.mark.parametrize("written", NOT_A_NUMBER)
def test_malformed_international_number_is_none(written: str) -> None:
    assert format_phone(written, international=True) is None


def test_malformed_plus_33_number_is_not_kept_as_international() -> None:
    """`+33` always announces a French number: too short, it is refused, not kept as it is."""
    assert format_phone("+33 5 16 52 64 5", international=True) is None


@pytest.mark.parametrize("written", FRENCH_WRITINGS + NOT_FRENCH + list(INTERNATIONAL) + NOT_A_NUMBER)
def test_notice_and_candidate_form_read_numbers_alike(written: str) -> None:
    """The notice (French numbers only, with the editor's sentence) and the candidate form
    (international numbers too) both use format_phone."""
    assert form._phone(written) == format_phone(written, international=True)
    french = format_phone(written)
    if french is None:
        with pytest.raises(ValueError, match="n'est pas un numéro de téléphone français à 10 chiffres"):
            normalise_phone(written)
    else:
        assert normalise_phone(written) == french


def test_phones_is_a_pure_module() -> None:
    """formservice.phones imports the standard library only, so that every layer may use it."""
    source = Path(sys.modules[format_phone.__module__].__file__ or "").read_text(encoding="utf-8")
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported
