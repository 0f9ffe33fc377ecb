"""Reading the « M'inscrire » and address forms: one French sentence per faulty field, saying what
to type; the input always comes back."""

from __future__ import annotations

from typing import Any

import pytest
from enrolment_forms import valid_enrolment_form
from notice_factory import notice_with

from formservice.enrolment import form as f

NOTICE = notice_with()


def form(**changes: Any) -> dict[str, Any]:
    return valid_enrolment_form(NOTICE, **changes)


def test_valid_form_is_normalised() -> None:
    """A complete form passes; the phone is written the French way."""
    result = f.read_form(form(), NOTICE)
    assert result.ok and result.data["phone"] == "06 12 34 56 78"


def test_each_faulty_field_gets_its_message_and_input_is_kept() -> None:
    """Several mistakes give one message per field, and the typed values come back."""
    result = f.read_form(
        form(speciality=NOTICE.exams[0].specialities[0].id, postal_code="860", phone="12", status="distance"),
        NOTICE,
    )
    assert set(result.errors) == {"speciality", "postal_code", "phone", "organisation"}
    assert result.data["postal_code"] == "860"


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("0612345678", "06 12 34 56 78"),
        ("+33 6 12 34 56 78", "06 12 34 56 78"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+1-202-555-0143", "+12025550143"),
    ],
)
def test_phone_may_be_french_or_international(typed: str, kept: str) -> None:
    """The candidate's number is kept in its display form; an international number is accepted."""
    result = f.read_form(form(phone=typed), NOTICE)
    assert result.ok, result.errors
    assert result.data["phone"] == kept


@pytest.mark.parametrize("typed", ["06 12 34 56 7", "+1234567", "+33 6 12 34 56 7", "06 12 34 56 7a", ""])
def test_phone_that_is_not_a_number_is_refused(typed: str) -> None:
    result = f.read_form(form(phone=typed), NOTICE)
    assert result.errors["phone"] == (
        "Indiquez un numéro de téléphone à 10 chiffres (ou au format international +…)."
    )


def test_accommodation_needs_a_reason() -> None:
    """Asking for aménagements without saying why is refused next to the reason field."""
    result = f.read_form(form(accommodation="on"), NOTICE)
    assert "accommodation_reason" in result.errors


@pytest.mark.parametrize(
    "value", ["Durand\nBcc: x@y.fr", "Du\rrand", "Du\trand", "Du\x00rand", "Du\u2028rand"]
)
def test_single_line_fields_refuse_control_characters(value: str) -> None:
    """A line break or an invisible control character in a name is refused at the form, with a
    French message next to the field; the multi-line reason may hold line breaks."""
    result = f.read_form(
        form(last_name=value, accommodation="on", accommodation_reason="Ligne 1\nLigne 2"), NOTICE
    )
    assert result.errors.get("last_name", "").startswith("Ce champ tient sur une seule ligne")
    assert "accommodation_reason" not in result.errors
    address = f.read_address({"address": "1 rue", "postal_code": "86000", "city": value})
    assert address.errors["city"].startswith("Ce champ tient sur une seule ligne")


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("last_name", "Indiquez votre nom de naissance."),
        ("first_names", "Indiquez vos prénoms."),
        ("birth_place", "Indiquez votre lieu de naissance."),
        ("city", "Indiquez votre commune."),
    ],
)
def test_an_empty_required_field_says_what_to_type(field: str, message: str) -> None:
    """« Indiquez votre nom de naissance. », not « Ce champ est obligatoire : nom de naissance. »."""
    assert f.read_form(form(**{field: "  "}), NOTICE).errors[field] == message
    if field == "city":
        assert f.read_address({"address": "1 rue", "postal_code": "86000"}).errors[field] == message


def test_no_situation_chosen_names_both_situations_inclusively() -> None:
    """The situation's message names the two choices, in the masculine and the feminine."""
    message = f.read_form(form(status=""), NOTICE).errors["status"]
    assert "candidat ou candidate individuel" in message and "inscrit ou inscrite" in message
