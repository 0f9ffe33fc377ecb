"""Rules of the enrolment: the documents each candidate needs, each change (save, files, the final
validation, its reopening, an address change), and who may still change what."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from notice_factory import notice_with
from review.dossiers import in_state

from formservice.enrolment import rules as e
from formservice.enrolment.deadlines import DeadlineError
from formservice.review import rules as review_rules
from formservice.review.states import CANDIDATE_SIDE, State, state_of

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
    doc = saved()

    def moved(n: int) -> dict[str, str]:
        return {"address": f"{n} rue Neuve", "address_extra": "", "postal_code": "86000", "city": "Poitiers"}

    for minute in range(e.ADDRESS_CHANGES_PER_DAY):
        e.request_address_change(doc, moved(minute), DURING + timedelta(minutes=minute))
    with pytest.raises(e.EnrolmentError, match="en 24 heures") as refused:
        e.request_address_change(doc, moved(10), DURING + timedelta(hours=23))
    assert refused.value.status == 429
    e.request_address_change(doc, moved(11), DURING + timedelta(days=1))  # a day later: again possible
    later = DURING + timedelta(days=2)
    for day in range(e.ADDRESS_CHANGES_KEPT * 2):
        e.request_address_change(doc, moved(100 + day), later + timedelta(days=day))
    assert len(doc["address_changes"]) == e.ADDRESS_CHANGES_KEPT


def test_an_address_change_becomes_the_enrolment_s_address_and_keeps_the_one_it_replaced() -> None:
    """The documents show the new address; a second change's « ancienne adresse » is the first
    change's new one, not the address typed in « M'inscrire »."""
    doc = saved()
    first = {"address": "8 rue Carnot", "address_extra": "", "postal_code": "79000", "city": "Niort"}
    second = {
        "address": "2 quai Louis",
        "address_extra": "Bât. B",
        "postal_code": "17000",
        "city": "La Rochelle",
    }
    e.request_address_change(doc, {**first, "country": "France"}, DURING)
    assert e.current_data(doc)["city"] == "Niort" and doc["version"] == 1  # only a save writes the data
    assert doc["address_changes"][-1]["previous"]["city"] == "Poitiers"
    e.request_address_change(doc, {**second, "country": "France"}, DURING + timedelta(hours=1))
    assert doc["address_changes"][-1]["previous"]["address"] == "8 rue Carnot"
    current = e.current_data(doc)
    assert current["address_extra"] == "Bât. B" and current["last_name"] == "Martin"


def test_a_save_after_an_address_change_carries_it_and_a_stale_one_is_no_change() -> None:
    """« M'inscrire » filled with the address in force and saved writes it; a save that only
    repeats the reported address is no change (no version, no mail)."""
    doc = saved()
    moved = {"address": "8 rue Carnot", "address_extra": "", "postal_code": "79000", "city": "Niort"}
    e.request_address_change(doc, {**moved, "country": "France"}, DURING)
    same = e.read_form(form(**moved), NOTICE).data
    assert e.save_with_changes(doc, same, 1, NOTICE, DURING).changes == []
    assert doc["version"] == 1
    phone = e.read_form(form(**moved, phone="0549000000"), NOTICE).data
    result = e.save_with_changes(doc, phone, 1, NOTICE, DURING)
    assert [label for label, _, _ in result.changes] == ["Téléphone"]
    assert doc["data"]["city"] == "Niort" and e.current_data(doc)["city"] == "Niort"


def test_the_current_address_is_not_a_change() -> None:
    """Reporting the address the enrolment already has sends nothing to the pôle."""
    doc = saved()
    current = {name: doc["data"].get(name, "") for name in e.ADDRESS_FIELDS}
    with pytest.raises(e.EnrolmentError, match="déjà celle"):
        e.request_address_change(doc, current, DURING)
    assert doc["address_changes"] == []


# -- after « J'ai fourni toutes mes pièces »: what may still change, and who says so -------------


def deposited(**changes: Any) -> dict[str, Any]:
    """An enrolment with a file for every piece asked, « J'ai fourni toutes mes pièces » done."""
    doc = saved(**changes)
    for n, d in enumerate(e.required_documents(NOTICE, doc["data"])):
        e.add_file(doc, d.id, _file(n, d.id), NOTICE, DURING)
    return e.complete(doc, NOTICE, DURING)


def young() -> str:
    """A birth date that makes the age-dependent piece asked."""
    limit = next(d for d in NOTICE.documents if d.condition and d.condition.age_below)
    assert limit.condition is not None and limit.condition.age_below is not None
    return date(NOTICE.registration.age_reference_date.year - limit.condition.age_below + 2, 1, 1).isoformat()


def test_the_enrolment_stays_editable_after_the_final_click() -> None:
    """A change that leaves the pieces as they are keeps the dossier déposé and its receipt."""
    doc = deposited()
    doc = e.save(doc, e.read_form(form(phone="0549000000"), NOTICE).data, 1, NOTICE, DURING)
    assert doc["version"] == 2 and doc["status"] == e.STATUS_COMPLETE and "receipt" in doc


def test_a_change_of_the_pieces_asked_reopens_their_deposit() -> None:
    """Déposé, a new birth date that makes one more piece required puts the dossier back to
    brouillon: the receipt no longer holds, the missing piece is listed."""
    doc = deposited()
    result = e.save_with_changes(doc, e.read_form(form(birth_date=young()), NOTICE).data, 1, NOTICE, DURING)
    assert result.reopened and result.pieces_changed
    assert doc["status"] == e.STATUS_SAVED and "receipt" not in doc and "completed_at" not in doc
    assert state_of(doc) is State.BROUILLON
    assert [d.id for d in e.missing_documents(NOTICE, doc)] == [
        d.id for d in NOTICE.documents if d.condition and d.condition.age_below
    ]


def test_a_change_of_the_pieces_is_refused_once_their_deposit_is_closed() -> None:
    """With documents_deadline before the closing, a change that would reopen the pieces after it
    is refused (they could not be validated again); other changes still pass."""
    early = notice_with(
        opens="2025-10-21 09:00", closes="2025-11-13 19:00", documents_deadline="2025-11-01 12:00"
    )
    doc = deposited()
    late = DURING + timedelta(days=5)
    with pytest.raises(e.EnrolmentError, match="dont le dépôt est clos") as refused:
        e.save(doc, e.read_form(form(birth_date=young()), early).data, 1, early, late)
    pole = e.pole_of(early, form())
    assert pole is not None and pole.email in refused.value.message
    assert doc["version"] == 1 and doc["status"] == e.STATUS_COMPLETE
    e.save(doc, e.read_form(form(phone="0549000000"), early).data, 1, early, late)


def test_a_piece_no_longer_asked_is_left_out_of_the_receipt() -> None:
    """Files of a piece the enrolment no longer asks for stay apart (shown, removable), never in
    the receipt."""
    doc = saved(birth_date=young())
    for n, d in enumerate(e.required_documents(NOTICE, doc["data"])):
        e.add_file(doc, d.id, _file(n, d.id), NOTICE, DURING)
    doc = e.save(doc, e.read_form(form(), NOTICE).data, 1, NOTICE, DURING)
    stray = e.stray_files(NOTICE, doc)
    assert len(stray) == 1
    doc = e.complete(doc, NOTICE, DURING)
    assert stray[0]["document_id"] not in {f["document_id"] for f in doc["receipt"]["files"]}


def test_the_candidate_may_reopen_the_pieces_while_the_office_has_not_started() -> None:
    """« Modifier mes pièces »: déposé → brouillon, files changeable again; not before the final
    click, not once the office started, not after the documents deadline."""
    doc = saved()
    with pytest.raises(e.EnrolmentError, match="pas encore validées"):
        e.reopen(doc, NOTICE, DURING)
    doc = deposited()
    with pytest.raises(DeadlineError):
        e.reopen(doc, NOTICE, AFTER)
    e.reopen(doc, NOTICE, DURING)
    assert state_of(doc) is State.BROUILLON
    e.remove_file(doc, "f0", NOTICE, DURING)
    doc = deposited()
    review_rules.start(doc, "staff1", DURING)
    with pytest.raises(e.EnrolmentError, match="Le pôle vérifie votre dossier"):
        e.reopen(doc, NOTICE, DURING)


def test_once_the_office_has_the_dossier_the_enrolment_is_not_changed_under_it() -> None:
    """En vérification, incomplet, complet, irrecevable or désisté: « Enregistrer » is refused
    with the state in words, whom to contact, and that an address change is still possible."""
    pole = e.pole_of(NOTICE, form())
    assert pole is not None
    for state in set(State) - CANDIDATE_SIDE:
        doc = in_state(state)
        assert state_of(doc) is state
        with pytest.raises(e.EnrolmentError) as refused:
            e.save(doc, e.read_form(form(phone="0549000000"), NOTICE).data, 1, NOTICE, DURING)
        message = refused.value.message
        assert e.TAKEN_IN_HAND[state] in message and "ne peut plus être modifiée en ligne" in message
        assert pole.email in message and "changement d'adresse" in message
        assert doc["version"] == 1
    assert e.edit_refusal(saved(), NOTICE) is None and e.edit_refusal(deposited(), NOTICE) is None
