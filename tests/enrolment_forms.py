"""The « M'inscrire » form as a browser POSTs it to /espace/inscription: one builder for the tests
and the benchmarks (bench/common.py puts this directory on sys.path), so that a field added to
the form is added once.

    data = valid_enrolment_form(notice, city="Rochefort", postal_code="17300")
    data |= {"csrf_token": client.csrf()}            # the session's token: the caller's business

Facts of the notice (exam and speciality ids, the age reference date) are read from the Notice
given, never hard-coded; the candidate's own fields are fixed, plausible values.
"""

from __future__ import annotations

from datetime import date

from formservice.notice import Notice

# A candidate's own fields, as typed in the form (the service normalises them: the phone number
# comes back as "06 12 34 56 78").
CANDIDATE: dict[str, str] = {
    "status": "individuel",
    "last_name": "Durand",
    "first_names": "Camille",
    "birth_date": "1988-03-02",
    "birth_place": "La Rochelle (17)",
    "address": "12 avenue de la Gare",
    "postal_code": "17000",
    "city": "La Rochelle",
    "country": "France",
    "phone": "0612345678",
}


def valid_enrolment_form(notice: Notice, **overrides: str) -> dict[str, str]:
    """Every field of a form that `formservice.enrolment.rules.read_form` accepts for ``notice``,
    ``version`` "0" included (a first « Enregistrer »); ``overrides`` replace or add fields.

    The exam defaults to the notice's last one; the speciality to the first of the chosen exam,
    so ``valid_enrolment_form(notice, exam="CS")`` is still valid. Optional fields (usage_name,
    address_extra, organisation, accommodation...) are left out unless given. Without a
    ``csrf_token``: add the session's own.
    """
    exam_id = overrides.get("exam", notice.exams[-1].id)
    exam = notice.exam(exam_id)
    speciality = exam.specialities[0].id if exam is not None else ""
    return {"version": "0", "exam": exam_id, "speciality": speciality, **CANDIDATE, **overrides}


def birth_date_for_age(notice: Notice, years: int) -> str:
    """The ISO birth date (15 March) of a candidate ``years`` old on the notice's age reference
    date: e.g. young enough for the documents the notice asks only of the young."""
    reference = notice.registration.age_reference_date
    before_birthday = (reference.month, reference.day) < (3, 15)
    return date(reference.year - years - before_birthday, 3, 15).isoformat()
