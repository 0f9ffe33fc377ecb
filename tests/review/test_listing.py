"""The list fields derived from a dossier (review.listing), and their refresh when the notice
changes: what the office filters on always says what the dossier is."""

from __future__ import annotations

from typing import Any

import pytest

from formservice.review import listing
from formservice.review.listing import PiecesState, Waiting
from formservice.review.states import Action, State
from formservice.store import Store
from formservice.store.memory import MemoryEngine
from review.dossiers import CHECKING, NOTICE, deposited, in_state, refuse_first, replace, saved

pytestmark = pytest.mark.anyio


def test_a_blank_dossier_is_in_no_list() -> None:
    blank = saved() | {"version": 0}
    fields = listing.derived(blank, NOTICE)
    assert fields["state"] is None and fields["speciality"] is None and fields["pieces_state"] is None


def test_states_pieces_and_what_waits() -> None:
    draft = listing.derived(saved() | {"files": []}, NOTICE)
    assert (draft["state"], draft["pieces_state"], draft["waiting"]) == ("brouillon", "manquantes", None)
    assert listing.derived(saved(), NOTICE)["pieces_state"] == PiecesState.A_VERIFIER  # files, not handed in
    handed_in = listing.derived(deposited(), NOTICE)
    assert (handed_in["state"], handed_in["pieces_state"], handed_in["waiting"]) == (
        State.DEPOSE,
        PiecesState.A_VERIFIER,
        Waiting.DEPOSE,
    )
    incomplete = in_state(State.INCOMPLET)
    assert listing.derived(incomplete, NOTICE)["pieces_state"] == PiecesState.NON_CONFORMES
    complete = in_state(State.COMPLET)
    assert listing.derived(complete, NOTICE)["pieces_state"] == PiecesState.CONFORMES


def test_corrections_confirmed_wait_for_the_office() -> None:
    doc = in_state(State.INCOMPLET, ready_for=Action.CONFIRM_CORRECTIONS)
    back = in_state(State.EN_VERIFICATION)
    assert listing.derived(back, NOTICE)["waiting"] is None  # started, nothing received
    from formservice.review import rules

    confirmed = rules.confirm_corrections(doc, NOTICE, doc["account_id"], CHECKING)
    fields = listing.derived(confirmed, NOTICE)
    assert (fields["state"], fields["pieces_state"], fields["waiting"]) == (
        State.EN_VERIFICATION,
        PiecesState.A_VERIFIER,
        Waiting.CORRECTIONS,
    )


def test_words_find_names_parts_email_and_number() -> None:
    doc: dict[str, Any] = saved(last_name="Martin-Lefèvre", first_names="Zoé Anaïs") | {
        "email": "Z.M@Exemple.fr"
    }
    words = listing.words(doc)
    for wanted in (
        "martin-lefevre",
        "martin",
        "lefevre",
        "zoe",
        "anais",
        "z.m@exemple.fr",
        doc["id"].casefold(),
    ):
        assert wanted in words
    assert listing.query_words("  LEFÈVRE  Zoé ") == ["lefevre", "zoe"]


async def test_the_repository_derives_on_every_write_and_refresh_follows_the_notice() -> None:
    """A write through the repository carries the fields; a notice that no longer asks a piece
    makes the stored fields stale, and a refresh rewrites exactly those dossiers."""
    notices = [NOTICE]
    store = Store(MemoryEngine())
    store.enrolments.derive = lambda doc: listing.with_listing(doc, notices[0])
    doc = saved() | {"files": []}
    assert await store.enrolments.create_if_absent(doc)
    stored = await store.enrolments.get(doc["id"])
    assert stored is not None and stored["pieces_state"] == "manquantes"
    assert (await store.enrolments.listing({"state": ["brouillon"]}))[0] == 1

    # Every piece waived by the editors: nothing is missing any more under the new notice.
    lighter = NOTICE.model_copy(update={"documents": []})
    assert listing.stale(stored, lighter)
    notices[0] = lighter
    from formservice.review.service import ReviewService

    service = ReviewService(
        store=store,
        clock=None,  # type: ignore[arg-type]
        notices=lambda: notices[0],
        audit=None,  # type: ignore[arg-type]
        mail=None,  # type: ignore[arg-type]
        links=lambda name, **p: name,
    )
    assert await service.refresh_listing() == 1
    assert await service.refresh_listing() == 0  # up to date: nothing rewritten
    again = await store.enrolments.get(doc["id"])
    assert again is not None and again["pieces_state"] == "conformes"


def test_refuse_then_replace_is_to_check_again() -> None:
    doc = in_state(State.EN_VERIFICATION)
    refused_id = refuse_first(doc)
    assert listing.derived(doc, NOTICE)["pieces_state"] == PiecesState.NON_CONFORMES
    replaced = replace(doc, refused_id, CHECKING)
    assert listing.derived(replaced, NOTICE)["pieces_state"] == PiecesState.A_VERIFIER
