"""The office's decisions on the pieces and their refusals, the correction deadline (across the
changes of time, to the second), the candidate's replacements after registration closes (only
the refused pieces, only until the deadline), the outcome, the notes and the chained history."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from formservice.clock import to_iso
from formservice.enrolment import rules as erules
from formservice.enrolment.deadlines import DeadlineError
from formservice.review import rules
from formservice.review.rules import PieceStatus, ReviewError
from formservice.review.states import State, state_of
from review.dossiers import (
    ACCOUNT_ID,
    CHECKING,
    NOTICE,
    OTHER_ACCOUNT,
    STAFF_ID,
    deposited,
    file_meta,
    piece_ids,
    refuse_first,
    replace,
    snapshot,
)

PARIS = ZoneInfo("Europe/Paris")
REASONS = " ; ".join(r.label for r in NOTICE.review.refusal_reasons)


def checking() -> dict:
    return rules.start(deposited(), STAFF_ID, CHECKING)


def decide(doc, document_id, decision, now=CHECKING, **kwargs):
    return rules.decide(doc, NOTICE, STAFF_ID, now, document_id, decision, **kwargs)


def name_of(document_id: str) -> str:
    return next(d.name for d in NOTICE.documents if d.id == document_id)


def refused(doc, call, message: str, status: int = 409) -> None:
    """``call`` raises ReviewError with exactly ``message`` and leaves ``doc`` as it was."""
    before = snapshot(doc)
    with pytest.raises(ReviewError) as caught:
        call()
    assert caught.value.message == message
    assert caught.value.status == status
    assert doc == before


# -- decisions ----------------------------------------------------------------------------------


def test_a_decision_is_recorded_on_the_files_present_with_its_author():
    doc = checking()
    first = piece_ids(doc)[0]
    decide(
        doc, first, rules.NON_CONFORME, reason_id="perime", comment="  La carte a expiré en 2019.\r\nMerci. "
    )
    decision = doc["review"]["pieces"][first]
    assert decision == {
        "document_id": first,
        "decision": "non_conforme",
        "reason_id": "perime",
        "comment": "La carte a expiré en 2019.\nMerci.",
        "files": [f"f-{first}-1"],
        "at": to_iso(CHECKING),
        "staff_id": STAFF_ID,
    }
    [piece] = [p for p in rules.pieces(doc, NOTICE) if p.document.id == first]
    assert piece.status is PieceStatus.NON_CONFORME and piece.reason_label == "Document périmé"
    event = doc["review"]["history"][-1]
    assert (event["actor"], event["actor_id"], event["action"]) == ("staff", STAFF_ID, "decide")
    assert event["details"] == {"document_id": first, "decision": "non_conforme", "reason_id": "perime"}
    assert "expiré" not in json.dumps(doc["review"]["history"], ensure_ascii=False)


def test_a_decision_needs_a_dossier_in_verification():
    doc = deposited()
    first = piece_ids(doc)[0]
    refused(
        doc,
        lambda: decide(doc, first, rules.CONFORME),
        "Une pièce ne se décide que sur un dossier en vérification (ou incomplet, pour revoir une pièce "
        "remplacée) : ce dossier est déposé. Commencez d'abord la vérification.",
    )
    done = rules.accept(_all_conforme(checking()), NOTICE, STAFF_ID, CHECKING)
    refused(
        done,
        lambda: decide(done, first, rules.NON_CONFORME, reason_id="illisible"),
        "Une pièce ne se décide que sur un dossier en vérification (ou incomplet, pour revoir une pièce "
        "remplacée) : ce dossier est complet (inscription définitive).",
    )


def _all_conforme(doc):
    for document_id in piece_ids(doc):
        decide(doc, document_id, rules.CONFORME)
    return doc


def test_a_decision_is_on_a_required_piece_only():
    doc = checking()
    not_asked = next(d.id for d in NOTICE.documents if d.id not in piece_ids(doc))
    refused(
        doc,
        lambda: decide(doc, not_asked, rules.CONFORME),
        "Cette pièce n'est pas demandée pour ce dossier.",
        404,
    )
    refused(
        doc,
        lambda: decide(doc, piece_ids(doc)[0], "peut-etre"),
        "Décision inconnue : choisissez conforme, non conforme ou non concerné.",
        400,
    )


def test_a_refusal_needs_a_reason_of_the_notice():
    doc = checking()
    first = piece_ids(doc)[0]
    message = f"Choisissez le motif du refus dans la liste : {REASONS}."
    refused(doc, lambda: decide(doc, first, rules.NON_CONFORME), message, 400)
    refused(doc, lambda: decide(doc, first, rules.NON_CONFORME, reason_id="doublon"), message, 400)
    refused(
        doc,
        lambda: decide(doc, first, rules.CONFORME, reason_id="illisible"),
        "Un motif de refus ne s'indique que pour une pièce non conforme.",
        400,
    )


def test_a_piece_without_a_file_can_only_be_non_concerne():
    doc = checking()
    first = piece_ids(doc)[0]
    doc["files"] = [f for f in doc["files"] if f["document_id"] != first]
    message = (
        f"Aucun fichier n'a été déposé pour « {name_of(first)} » : cette pièce ne peut être que "
        "« non concernée »."
    )
    refused(doc, lambda: decide(doc, first, rules.CONFORME), message)
    refused(doc, lambda: decide(doc, first, rules.NON_CONFORME, reason_id="incomplet"), message)
    decide(doc, first, rules.NON_CONCERNE, comment="Vous êtes dispensé de cette pièce.")
    assert doc["review"]["pieces"][first]["files"] == []
    assert rules.piece(doc, NOTICE, first).status is PieceStatus.NON_CONCERNE


def test_the_message_to_the_candidate_is_checked():
    doc = checking()
    first = piece_ids(doc)[0]

    def refuse(comment: str):
        return lambda: decide(doc, first, rules.NON_CONFORME, reason_id="illisible", comment=comment)

    refused(
        doc, refuse("é" * 1001), "Le message au candidat est trop long : 1001 caractères, 1000 au plus.", 400
    )
    for char in ("\x07", "\t", "\x00", "\u202e"):
        refused(
            doc,
            refuse(f"Page 2{char}manquante"),
            f"Le message au candidat contient un caractère de contrôle ou invisible (U+{ord(char):04X}) : "
            "retirez-le ; seuls les retours à la ligne sont acceptés.",
            400,
        )
    refused(
        doc,
        lambda: decide(doc, first, rules.CONFORME, comment="Merci"),
        "Le message au candidat accompagne une pièce non conforme ou non concernée : pour une pièce "
        "conforme, laissez-le vide.",
        400,
    )
    decide(doc, first, rules.NON_CONFORME, reason_id="illisible", comment="e\u0301" * 1000)  # NFC: 1000 « é »
    assert doc["review"]["pieces"][first]["comment"] == "é" * 1000
    decide(doc, first, rules.NON_CONFORME, reason_id="illisible", comment="Page 1\rPage 2\u2028Page 3")
    assert doc["review"]["pieces"][first]["comment"] == "Page 1\nPage 2\nPage 3"


def test_in_incomplet_only_a_replaced_piece_is_checked_again():
    doc = deposited()
    rules.start(doc, STAFF_ID, CHECKING)
    first = refuse_first(doc)
    other = piece_ids(doc)[1]
    message = (
        "Le dossier attend les corrections du candidat : seule une pièce refusée puis remplacée peut être "
        "revue maintenant, ce que « {} » n'est pas. Pour décider d'une autre pièce, reprenez d'abord la "
        "vérification."
    )
    refused(doc, lambda: decide(doc, first, rules.CONFORME), message.format(name_of(first)))
    refused(
        doc,
        lambda: decide(doc, other, rules.NON_CONFORME, reason_id="illisible"),
        message.format(name_of(other)),
    )
    replace(doc, first, CHECKING + timedelta(days=1))
    assert rules.piece(doc, NOTICE, first).status is PieceStatus.REMPLACEE
    decide(doc, first, rules.CONFORME, now=CHECKING + timedelta(days=2))
    assert rules.piece(doc, NOTICE, first).status is PieceStatus.CONFORME
    assert doc["review"]["pieces"][first]["files"] == [f"f-{first}-1", f"f-{first}-2"]


def test_a_conforme_piece_whose_files_change_is_to_check_again():
    doc = checking()
    first = piece_ids(doc)[0]
    decide(doc, first, rules.CONFORME)
    doc["files"].append({**file_meta(first, 9), "document_id": first, "uploaded_at": to_iso(CHECKING)})
    assert rules.piece(doc, NOTICE, first).status is PieceStatus.A_VERIFIER
    doc["files"] = [f for f in doc["files"] if f["document_id"] != first]
    assert rules.piece(doc, NOTICE, first).status is PieceStatus.MANQUANTE


# -- the correction request and its deadline -----------------------------------------------------


def test_a_correction_needs_a_piece_non_conforme():
    doc = checking()
    for document_id in piece_ids(doc):
        decide(doc, document_id, rules.CONFORME)
    refused(
        doc,
        lambda: rules.request_correction(doc, NOTICE, STAFF_ID, CHECKING),
        "Aucune pièce n'est non conforme : il n'y a rien à faire corriger. Refusez d'abord la ou les pièces "
        "à remplacer, avec leur motif.",
    )


def test_a_correction_request_lists_the_refused_pieces_and_its_deadline():
    doc = checking()
    first, second, third = piece_ids(doc)
    decide(doc, first, rules.NON_CONFORME, reason_id="illisible")
    decide(doc, second, rules.CONFORME)
    decide(doc, third, rules.NON_CONFORME, reason_id="non_conforme")
    rules.request_correction(doc, NOTICE, STAFF_ID, CHECKING)
    assert state_of(doc) is State.INCOMPLET
    [correction] = doc["review"]["corrections"]
    assert correction["pieces"] == [first, third]
    assert correction["requested_at"] == to_iso(CHECKING) and correction["staff_id"] == STAFF_ID
    assert correction["deadline"] == "2025-11-30T22:59:59+00:00"  # 30 November, 23:59:59 in Paris (winter)
    assert correction["confirmed_at"] is None
    event = doc["review"]["history"][-1]
    assert event["details"] == {
        "from": "en_verification",
        "to": "incomplet",
        "pieces": [first, third],
        "deadline": correction["deadline"],
    }


@pytest.mark.parametrize(
    ("requested", "deadline"),
    [
        # 10 days from Wednesday 25 March 2026: Saturday 4 April; the clocks go forward on 29 March,
        # so 23:59:59 in Paris is 21:59:59 UTC (not 22:59:59, as it would be in winter).
        (datetime(2026, 3, 25, 10, 0, tzinfo=PARIS), datetime(2026, 4, 4, 21, 59, 59, tzinfo=UTC)),
        (datetime(2026, 3, 25, 23, 59, 59, tzinfo=PARIS), datetime(2026, 4, 4, 21, 59, 59, tzinfo=UTC)),
        # 00:30 in Paris on 26 March is still 25 March in UTC: the day counted is Paris's.
        (datetime(2026, 3, 26, 0, 30, tzinfo=PARIS), datetime(2026, 4, 5, 21, 59, 59, tzinfo=UTC)),
        # back to winter time on 25 October 2026: 23:59:59 in Paris is 22:59:59 UTC again.
        (datetime(2026, 10, 20, 15, 0, tzinfo=PARIS), datetime(2026, 10, 30, 22, 59, 59, tzinfo=UTC)),
    ],
    ids=["spring-morning", "spring-last-second", "spring-after-midnight", "autumn"],
)
def test_the_deadline_is_the_end_of_the_last_day_in_paris(requested, deadline):
    assert NOTICE.review.correction_days == 10
    got = rules.correction_deadline(requested.astimezone(UTC), NOTICE)
    assert got == deadline
    assert got.astimezone(PARIS).time().isoformat() == "23:59:59"
    doc = checking()
    decide(doc, piece_ids(doc)[0], rules.NON_CONFORME, reason_id="illisible")
    rules.request_correction(doc, NOTICE, STAFF_ID, requested.astimezone(UTC))
    correction = doc["review"]["corrections"][-1]
    assert correction["deadline"] == to_iso(deadline)
    assert rules.before_deadline(correction, deadline)
    assert rules.before_deadline(correction, deadline + timedelta(microseconds=999_999))
    assert not rules.before_deadline(correction, deadline + timedelta(seconds=1))


def test_the_deadline_in_words():
    assert (
        rules.deadline_text(NOTICE, "2026-04-04T21:59:59+00:00") == "samedi 4 avril 2026 à 23\u00a0h\u00a059"
    )


# -- the candidate's replacements ----------------------------------------------------------------

REQUESTED = datetime(2026, 3, 25, 9, 0, tzinfo=UTC)  # long after registration.closes
DEADLINE = datetime(2026, 4, 4, 21, 59, 59, tzinfo=UTC)


def incomplet() -> tuple[dict, str, str]:
    doc = rules.start(deposited(), STAFF_ID, REQUESTED)
    first = refuse_first(doc, REQUESTED)
    return doc, first, piece_ids(doc)[1]


def test_a_refused_piece_is_replaced_after_registration_closes_until_the_deadline():
    doc, first, _ = incomplet()
    assert NOTICE.closes_at < REQUESTED and NOTICE.documents_deadline_at < REQUESTED
    with pytest.raises(DeadlineError):  # the enrolment's own upload is closed...
        erules.check_can_add(doc, first, 1000, NOTICE, REQUESTED)
    rules.check_can_replace(doc, NOTICE, first, 1000, DEADLINE)  # ...the correction is open
    replace(doc, first, DEADLINE)
    added = doc["files"][-1]
    assert added["id"] == f"f-{first}-2" and added["document_id"] == first
    assert added["uploaded_at"] == to_iso(DEADLINE)
    assert rules.piece(doc, NOTICE, first).status is PieceStatus.REMPLACEE
    event = doc["review"]["history"][-1]
    assert (event["actor"], event["actor_id"], event["action"]) == ("candidate", ACCOUNT_ID, "replace_file")
    assert event["details"] == {"document_id": first, "file_id": f"f-{first}-2"}


def test_only_the_refused_pieces_can_be_replaced():
    doc, _, other = incomplet()
    refused(
        doc,
        lambda: replace(doc, other, REQUESTED + timedelta(days=1)),
        "Seules les pièces refusées par le pôle peuvent être remplacées : "
        f"« {name_of(other)} » n'en fait pas partie.",
    )
    other_file = next(f["id"] for f in doc["files"] if f["document_id"] == other)
    refused(
        doc,
        lambda: rules.remove_replacement(doc, NOTICE, ACCOUNT_ID, REQUESTED, other_file),
        "Seules les pièces refusées par le pôle peuvent être remplacées : "
        f"« {name_of(other)} » n'en fait pas partie.",
    )


def test_no_replacement_after_the_deadline():
    doc, first, _ = incomplet()
    pole = rules.pole_of_enrolment(NOTICE, doc)
    assert pole is not None
    message = (
        "Le délai de correction a pris fin le samedi 4 avril 2026 à 23\u00a0h\u00a059 (heure de Paris) : les "
        "pièces ne peuvent plus être remplacées en ligne. Pour toute question, contactez le "
        f"{pole.name} : {' / '.join(pole.phones)} ou {pole.email}."
    )
    late = DEADLINE + timedelta(seconds=1)
    refused(doc, lambda: replace(doc, first, late), message)
    refused(doc, lambda: rules.remove_replacement(doc, NOTICE, ACCOUNT_ID, late, f"f-{first}-1"), message)
    refused(doc, lambda: rules.confirm_corrections(doc, NOTICE, ACCOUNT_ID, late), message)


def test_no_replacement_without_a_correction_request():
    doc = checking()
    first = piece_ids(doc)[0]
    message = "Aucune correction n'est demandée sur votre dossier : il n'y a pas de pièce à remplacer."
    refused(doc, lambda: replace(doc, first, CHECKING), message)
    doc, first, _ = incomplet()
    replace(doc, first, REQUESTED)
    rules.confirm_corrections(doc, NOTICE, ACCOUNT_ID, REQUESTED)
    refused(doc, lambda: replace(doc, first, REQUESTED, n=3), message)


def test_a_piece_the_office_accepted_since_is_not_replaced_any_more():
    doc, first, _ = incomplet()
    replace(doc, first, REQUESTED)
    decide(doc, first, rules.CONFORME, now=REQUESTED)
    refused(
        doc,
        lambda: replace(doc, first, REQUESTED, n=3),
        f"Le pôle a revu « {name_of(first)} » depuis la demande (conforme) : "
        "cette pièce ne se remplace plus.",
    )


def test_replacements_keep_the_upload_limits():
    doc, first, _ = incomplet()
    limit = NOTICE.uploads.max_files_per_document
    for n in range(2, limit + 1):
        replace(doc, first, REQUESTED, n=n)
    refused(
        doc,
        lambda: replace(doc, first, REQUESTED, n=limit + 1),
        f"Vous avez déjà déposé {limit} fichier(s) pour cette pièce, le maximum : retirez le fichier refusé "
        "pour en ajouter un autre.",
    )
    rules.remove_replacement(doc, NOTICE, ACCOUNT_ID, REQUESTED, f"f-{first}-1")  # the refused one
    assert f"f-{first}-1" not in {f["id"] for f in doc["files"]}
    assert doc["review"]["history"][-1]["action"] == "remove_file"
    big = NOTICE.uploads.max_total_mb * 1024 * 1024
    refused(
        doc,
        lambda: rules.check_can_replace(doc, NOTICE, first, big, REQUESTED),
        f"L'ensemble de vos fichiers dépasserait {NOTICE.uploads.max_total_mb} Mo : retirez le fichier "
        "refusé ou réduisez la taille du nouveau.",
    )


def test_a_candidate_acts_on_their_own_dossier_only():
    doc, first, _ = incomplet()
    gone = "Ce dossier n'existe pas."
    other = OTHER_ACCOUNT
    refused(
        doc,
        lambda: rules.add_replacement(doc, NOTICE, other, REQUESTED, first, file_meta(first, 2)),
        gone,
        404,
    )
    refused(doc, lambda: rules.remove_replacement(doc, NOTICE, other, REQUESTED, f"f-{first}-1"), gone, 404)
    refused(doc, lambda: rules.confirm_corrections(doc, NOTICE, other, REQUESTED), gone, 404)
    refused(doc, lambda: rules.withdraw(doc, other, REQUESTED), gone, 404)
    refused(
        doc,
        lambda: rules.remove_replacement(doc, NOTICE, ACCOUNT_ID, REQUESTED, "f-inconnu"),
        "Ce fichier n'existe pas (il a peut-être déjà été retiré).",
        404,
    )


def test_corrections_are_confirmed_once_every_refused_piece_is_replaced():
    doc = rules.start(deposited(), STAFF_ID, REQUESTED)
    first, second, third = piece_ids(doc)
    decide(doc, first, rules.NON_CONFORME, now=REQUESTED, reason_id="illisible")
    decide(doc, second, rules.NON_CONFORME, now=REQUESTED, reason_id="incomplet")
    decide(doc, third, rules.CONFORME, now=REQUESTED)
    rules.request_correction(doc, NOTICE, STAFF_ID, REQUESTED)
    replace(doc, first, REQUESTED + timedelta(days=1))
    refused(
        doc,
        lambda: rules.confirm_corrections(doc, NOTICE, ACCOUNT_ID, REQUESTED + timedelta(days=1)),
        f"Il reste à remplacer : « {name_of(second)} ». Déposez un nouveau fichier pour chacune, "
        "puis validez de nouveau.",
    )
    replace(doc, second, DEADLINE)
    rules.confirm_corrections(doc, NOTICE, ACCOUNT_ID, DEADLINE)
    assert state_of(doc) is State.EN_VERIFICATION
    assert doc["review"]["corrections"][-1]["confirmed_at"] == to_iso(DEADLINE)
    event = doc["review"]["history"][-1]
    assert event["details"] == {"from": "incomplet", "to": "en_verification", "pieces": [first, second]}
    assert (event["actor"], event["actor_id"]) == ("candidate", ACCOUNT_ID)
    assert {p.document.id: p.status for p in rules.pieces(doc, NOTICE)} == {
        first: PieceStatus.REMPLACEE,
        second: PieceStatus.REMPLACEE,
        third: PieceStatus.CONFORME,
    }


# -- the outcome ----------------------------------------------------------------------------------


def test_a_dossier_is_accepted_only_when_every_piece_is_conforme_or_non_concerne():
    doc = checking()
    first, second, third = piece_ids(doc)
    decide(doc, first, rules.CONFORME)
    decide(doc, second, rules.NON_CONFORME, reason_id="illisible")
    refused(
        doc,
        lambda: rules.accept(doc, NOTICE, STAFF_ID, CHECKING),
        "Le dossier ne peut pas être accepté : chaque pièce doit être conforme ou non concernée. Reste : "
        f"« {name_of(second)} » (non conforme) ; « {name_of(third)} » (à vérifier).",
    )
    decide(doc, second, rules.CONFORME)
    decide(doc, third, rules.NON_CONCERNE)
    rules.accept(doc, NOTICE, STAFF_ID, CHECKING)
    assert state_of(doc) is State.COMPLET


def test_irrecevable_needs_a_reason_of_the_notice_and_resume_clears_it():
    doc = checking()
    choices = " ; ".join(r.label for r in NOTICE.review.ineligibility_reasons)
    refused(
        doc,
        lambda: rules.declare_ineligible(doc, NOTICE, STAFF_ID, CHECKING, "illisible"),
        f"Choisissez le motif d'irrecevabilité dans la liste : {choices}.",
        400,
    )
    rules.declare_ineligible(doc, NOTICE, STAFF_ID, CHECKING, "doublon")
    assert state_of(doc) is State.IRRECEVABLE and doc["review"]["ineligibility_reason"] == "doublon"
    assert doc["review"]["history"][-1]["details"]["reason_id"] == "doublon"
    rules.resume(doc, STAFF_ID, CHECKING)
    assert state_of(doc) is State.EN_VERIFICATION and doc["review"]["ineligibility_reason"] is None


def test_the_candidate_withdraws():
    doc = rules.withdraw(deposited(), ACCOUNT_ID, CHECKING)
    assert state_of(doc) is State.DESISTE
    assert [e["action"] for e in doc["review"]["history"]] == ["deposit", "withdraw"]


# -- notes and history ----------------------------------------------------------------------------


def test_private_notes_are_kept_out_of_the_history():
    doc = rules.add_note(
        deposited(), STAFF_ID, "  Le candidat a appelé : diplôme envoyé par courrier.  ", CHECKING
    )
    rules.add_note(doc, "staff-2", "Reçu.", CHECKING + timedelta(hours=1))
    assert doc["review"]["notes"] == [
        {
            "id": "n1",
            "at": to_iso(CHECKING),
            "staff_id": STAFF_ID,
            "text": "Le candidat a appelé : diplôme envoyé par courrier.",
        },
        {"id": "n2", "at": to_iso(CHECKING + timedelta(hours=1)), "staff_id": "staff-2", "text": "Reçu."},
    ]
    assert [e["details"] for e in doc["review"]["history"] if e["action"] == "note"] == [
        {"note_id": "n1"},
        {"note_id": "n2"},
    ]
    assert "appelé" not in json.dumps(doc["review"]["history"], ensure_ascii=False)
    refused(
        doc,
        lambda: rules.add_note(doc, STAFF_ID, " \n ", CHECKING),
        "La note est vide : écrivez-la avant de l'enregistrer.",
        400,
    )
    refused(
        doc,
        lambda: rules.add_note(doc, STAFF_ID, "x" * 2001, CHECKING),
        "La note est trop longue : 2001 caractères, 2000 au plus.",
        400,
    )


def test_the_history_starts_with_the_candidates_deposit_and_is_chained():
    doc = deposited()
    rules.start(doc, STAFF_ID, CHECKING)
    first = refuse_first(doc, CHECKING)
    history = doc["review"]["history"]
    deposit = history[0]
    assert deposit["action"] == "deposit" and deposit["at"] == doc["completed_at"]
    assert (deposit["actor"], deposit["actor_id"]) == ("candidate", ACCOUNT_ID)
    assert deposit["details"] == {"from": "brouillon", "to": "depose"}
    assert [e["action"] for e in history] == [
        "deposit",
        "start",
        "decide",
        "decide",
        "decide",
        "request_correction",
    ]
    assert all(set(e) == {"at", "actor", "actor_id", "action", "details", "hash"} for e in history)
    assert all(e["action"] in rules.HISTORY_LABELS for e in history)
    assert rules.history_intact(doc)
    tampered = snapshot(doc)
    tampered["review"]["history"][2]["details"]["decision"] = "conforme"
    assert not rules.history_intact(tampered)
    dropped = snapshot(doc)
    del dropped["review"]["history"][1]
    assert not rules.history_intact(dropped)
    assert first in history[-1]["details"]["pieces"]


def test_a_deposit_made_after_the_review_part_exists_is_recorded_first():
    draft = deposited()
    draft["status"] = "saved"  # as if the candidate had not confirmed yet
    rules.add_note(draft, STAFF_ID, "À surveiller", CHECKING)
    draft["status"] = "complete"  # « J'ai fourni toutes mes pièces », by the enrolment feature
    rules.start(draft, STAFF_ID, CHECKING + timedelta(days=1))
    assert [e["action"] for e in draft["review"]["history"]] == ["note", "deposit", "start"]
    assert rules.history_intact(draft)


def test_the_pole_of_a_dossier_is_its_specialitys():
    doc = deposited()
    found = NOTICE.speciality(doc["data"]["speciality"])
    assert found is not None
    pole = rules.pole_of_enrolment(NOTICE, doc)
    assert pole is not None and pole.id == found[1].pole
    assert rules.pole_of_enrolment(NOTICE, {"data": {"speciality": "inconnue"}}) is None
