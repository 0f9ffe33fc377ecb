"""Rules of the enrolment: the form, the documents each candidate needs, the final validation."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from notice_factory import notice_with

from formservice.enrolment import rules as e
from formservice.enrolment.deadlines import DeadlineError

PARIS = ZoneInfo("Europe/Paris")
NOTICE = notice_with(
    opens="2025-10-21 09:00", closes="2025-11-13 19:00", documents_deadline="2025-11-13 19:00"
)
DURING = datetime(2025, 11, 1, 12, 0, tzinfo=PARIS)
AFTER = datetime(2025, 11, 13, 19, 0, tzinfo=PARIS)


def form(**changes: Any) -> dict[str, Any]:
    exam = NOTICE.exams[1]
    base = {
        "exam": exam.id,
        "speciality": exam.specialities[0].id,
        "status": "individuel",
        "last_name": "Martin",
        "first_names": "Léa Anne",
        "birth_date": "1990-05-17",
        "birth_place": "Niort (79)",
        "address": "3 rue des Écoles",
        "postal_code": "86000",
        "city": "Poitiers",
        "phone": "06.12.34.56.78",
    }
    return base | changes


def saved(**changes: Any) -> dict[str, Any]:
    doc = e.new_enrolment("en1", "acc1:s", "acc1", NOTICE, DURING)
    result = e.read_form(form(**changes), NOTICE)
    assert result.ok, result.errors
    return e.save(doc, result.data, 0, NOTICE, DURING)


def test_valid_form_is_normalised() -> None:
    """A complete form passes; the phone is written the French way."""
    result = e.read_form(form(), NOTICE)
    assert result.ok and result.data["phone"] == "06 12 34 56 78"


def test_each_faulty_field_gets_its_message_and_input_is_kept() -> None:
    """Several mistakes give one message per field, and the typed values come back."""
    result = e.read_form(
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
    result = e.read_form(form(phone=typed), NOTICE)
    assert result.ok, result.errors
    assert result.data["phone"] == kept


@pytest.mark.parametrize("typed", ["06 12 34 56 7", "+1234567", "+33 6 12 34 56 7", "06 12 34 56 7a", ""])
def test_phone_that_is_not_a_number_is_refused(typed: str) -> None:
    result = e.read_form(form(phone=typed), NOTICE)
    assert result.errors["phone"] == (
        "Indiquez un numéro de téléphone à 10 chiffres (ou au format international +…)."
    )


def test_accommodation_needs_a_reason() -> None:
    """Asking for aménagements without saying why is refused next to the reason field."""
    result = e.read_form(form(accommodation="on"), NOTICE)
    assert "accommodation_reason" in result.errors


def test_required_documents_depend_on_exam_age_status_and_accommodation() -> None:
    """Conditions are computed from the form: age from the birth date, status, aménagements."""
    exam_id = NOTICE.exams[1].id
    plain = {d.id for d in e.required_documents(NOTICE, form())}
    assert plain == {d.id for d in NOTICE.documents_for_exam(exam_id) if d.condition is None}
    age_limit = next(d for d in NOTICE.documents if d.condition and d.condition.age_below)
    young_year = NOTICE.registration.age_reference_date.year - age_limit.condition.age_below + 1  # type: ignore[union-attr]
    young = e.required_documents(NOTICE, form(birth_date=date(young_year, 1, 1).isoformat()))
    assert age_limit.id in {d.id for d in young}
    distance = e.required_documents(NOTICE, form(status="distance", organisation="CNED"))
    assert any(d.condition and d.condition.status == "distance" for d in distance)
    other_exam = NOTICE.exams[0].id
    only_other = {d.id for d in NOTICE.documents if d.exams == [other_exam]}
    assert not only_other & {d.id for d in e.required_documents(NOTICE, form())}


def test_save_increments_version_and_records_what_changed() -> None:
    """Each « Enregistrer » adds one version and remembers which fields changed."""
    doc = saved()
    assert doc["version"] == 1
    again = e.read_form(form(city="Niort", postal_code="79000"), NOTICE).data
    doc = e.save(doc, again, 1, NOTICE, DURING)
    assert doc["version"] == 2
    assert doc["history"][-1]["changes"] == ["Code postal", "Commune"]


def test_stale_form_is_a_version_conflict() -> None:
    """A second tab saving with the old version is told the record changed, nothing is lost."""
    doc = saved()
    with pytest.raises(e.VersionConflict):
        e.save(doc, form(city="Niort"), 0, NOTICE, DURING)


def test_save_after_deadline_is_refused() -> None:
    """A form opened before 19:00 and submitted at 19:00:00 is refused."""
    doc = saved()
    with pytest.raises(DeadlineError):
        e.save(doc, e.read_form(form(city="Niort"), NOTICE).data, 1, NOTICE, AFTER)


def _file(n: int, document_id: str, size: int = 1000) -> dict[str, Any]:
    return {
        "id": f"f{n}",
        "display_name": f"{document_id}.pdf",
        "stored_name": f"s{n}",
        "size": size,
        "sha256": "0" * 64,
        "media_type": "application/pdf",
    }


def test_complete_requires_every_required_document() -> None:
    """« J'ai fourni toutes mes pièces » lists what is missing, then passes and freezes the files."""
    doc = saved()
    required = e.required_documents(NOTICE, doc["data"])
    with pytest.raises(e.EnrolmentError) as exc:
        e.complete(doc, NOTICE, DURING)
    assert all(d.name in exc.value.message for d in required)
    for n, d in enumerate(required):
        doc = e.add_file(doc, d.id, _file(n, d.id), NOTICE, DURING)
    doc = e.complete(doc, NOTICE, DURING)
    assert doc["status"] == e.STATUS_COMPLETE and len(doc["receipt"]["files"]) == len(required)
    with pytest.raises(e.EnrolmentError):
        e.add_file(doc, required[0].id, _file(99, required[0].id), NOTICE, DURING)
    with pytest.raises(e.EnrolmentError):
        e.remove_file(doc, "f0", NOTICE, DURING)


def test_upload_limits_per_document_and_in_total() -> None:
    """The per-document file count and the total size from notice.yml are enforced."""
    doc = saved()
    first = e.required_documents(NOTICE, doc["data"])[0].id
    for n in range(NOTICE.uploads.max_files_per_document):
        doc = e.add_file(doc, first, _file(n, first), NOTICE, DURING)
    with pytest.raises(e.EnrolmentError, match="maximum"):
        e.add_file(doc, first, _file(50, first), NOTICE, DURING)
    second = e.required_documents(NOTICE, doc["data"])[1].id
    with pytest.raises(e.EnrolmentError, match="dépasserait"):
        e.add_file(
            doc, second, _file(51, second, size=NOTICE.uploads.max_total_mb * 1024 * 1024), NOTICE, DURING
        )


def test_unrequired_document_and_unknown_file_are_refused() -> None:
    """A document not required for this candidate, or a file id that is not theirs, is refused."""
    doc = saved()
    with pytest.raises(e.EnrolmentError):
        e.add_file(doc, "no-such-document", _file(1, "x"), NOTICE, DURING)
    with pytest.raises(e.EnrolmentError):
        e.remove_file(doc, "nope", NOTICE, DURING)


def test_returning_candidate_gets_identity_and_address_only() -> None:
    """Last session's identity and address are offered; the exam choice is not carried over."""
    previous = saved()
    start = e.starting_point(previous)
    assert start["last_name"] == "Martin" and start["city"] == "Poitiers"
    assert "exam" not in start and "speciality" not in start


def test_address_changes_are_limited_per_day_and_bounded() -> None:
    """Each report mails the pôle: three in 24 hours, then a French refusal; the record keeps
    only the latest ones."""
    doc = e.new_enrolment("x", "k", "a", NOTICE, DURING)
    address = {"address": "1 rue Neuve", "address_extra": "", "postal_code": "86000", "city": "Poitiers"}
    for minute in range(e.ADDRESS_CHANGES_PER_DAY):
        e.request_address_change(doc, address, DURING + timedelta(minutes=minute))
    with pytest.raises(e.EnrolmentError, match="en 24 heures") as refused:
        e.request_address_change(doc, address, DURING + timedelta(hours=23))
    assert refused.value.status == 429
    e.request_address_change(doc, address, DURING + timedelta(days=1))  # a day later: again possible
    later = DURING + timedelta(days=2)
    for day in range(e.ADDRESS_CHANGES_KEPT * 2):
        e.request_address_change(doc, address, later + timedelta(days=day))
    assert len(doc["address_changes"]) == e.ADDRESS_CHANGES_KEPT


@pytest.mark.parametrize(
    "value", ["Durand\nBcc: x@y.fr", "Du\rrand", "Du\trand", "Du\x00rand", "Du\u2028rand"]
)
def test_single_line_fields_refuse_control_characters(value: str) -> None:
    """A line break or an invisible control character in a name is refused at the form, with a
    French message next to the field; the multi-line reason may hold line breaks."""
    result = e.read_form(
        form(last_name=value, accommodation="on", accommodation_reason="Ligne 1\nLigne 2"), NOTICE
    )
    assert result.errors.get("last_name", "").startswith("Ce champ tient sur une seule ligne")
    assert "accommodation_reason" not in result.errors
    address = e.read_address({"address": "1 rue", "postal_code": "86000", "city": value})
    assert address.errors["city"].startswith("Ce champ tient sur une seule ligne")
