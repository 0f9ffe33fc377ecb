"""The state machine of a dossier, exhaustively: every (state, action, actor) of the table moves
the dossier where the table says, every other combination is refused with its French reason,
both by ``states`` itself and by the rules that carry each action out."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
import test_layers as layers

from formservice.errors import AppError, Conflict
from formservice.review import rules, states
from formservice.review.states import (
    ACTOR_OF,
    TRANSITIONS,
    Action,
    Actor,
    State,
    TransitionRefused,
    actions_for,
    next_state,
    refusal_message,
    state_of,
)
from review.dossiers import ACCOUNT_ID, CHECKING, NOTICE, STAFF_ID, deposited, in_state, saved, snapshot

ALL = list(itertools.product(State, Action, Actor))
ALLOWED = sorted(TRANSITIONS, key=str)
REFUSED = [key for key in ALL if key not in TRANSITIONS]


def ids(key: tuple[State, Action, Actor]) -> str:
    return "-".join(str(part) for part in key)


def test_the_table_and_its_complement_cover_every_combination():
    assert len(ALL) == len(State) * len(Action) * len(Actor)
    assert len(ALLOWED) + len(REFUSED) == len(ALL)
    assert len(ALLOWED) == 20


def test_each_action_belongs_to_one_kind_of_actor():
    for _, action, actor in TRANSITIONS:
        assert ACTOR_OF[action] is actor
    assert set(ACTOR_OF) == set(Action)
    assert {a for a, who in ACTOR_OF.items() if who is Actor.CANDIDATE} == {
        Action.DEPOSIT,
        Action.REOPEN,
        Action.CONFIRM_CORRECTIONS,
        Action.WITHDRAW,
    }


@pytest.mark.parametrize("key", ALLOWED, ids=ids)
def test_an_allowed_transition_goes_where_the_table_says(key):
    state, action, actor = key
    assert next_state(state, action, actor) is TRANSITIONS[key]
    assert states.allowed(state, action, actor)
    assert action in actions_for(state, actor)


@pytest.mark.parametrize("key", REFUSED, ids=ids)
def test_a_refused_transition_says_why_in_french(key):
    state, action, actor = key
    with pytest.raises(TransitionRefused) as caught:
        next_state(state, action, actor)
    error = caught.value
    assert isinstance(error, Conflict) and isinstance(error, AppError)
    assert error.status == 409
    assert (error.state, error.action, error.actor) == key
    assert error.message == refusal_message(state, action, actor)
    assert action not in actions_for(state, actor)
    owner = ACTOR_OF[action]
    if owner is not actor:
        who = "le service des examens" if owner is Actor.STAFF else "le candidat"
        assert error.message == f"Seul {who} peut {states.ACTION_TEXT[action]}."
    else:
        assert f"le dossier est {states.described(state)}." in error.message
        possible = states.sources(action, actor)
        assert possible and state not in possible
        assert all(states._SHORT[s] in error.message for s in possible)
        assert error.message.endswith(states.CANDIDATE_CONTACT) == (actor is Actor.CANDIDATE)


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (
            (State.DEPOSE, Action.ACCEPT, Actor.STAFF),
            "Impossible d'accepter le dossier (inscription définitive) : le dossier est déposé. "
            "Ce n'est possible que pour un dossier en vérification ou incomplet.",
        ),
        (
            (State.COMPLET, Action.REQUEST_CORRECTION, Actor.STAFF),
            "Impossible de demander des corrections : le dossier est complet (inscription définitive). "
            "Ce n'est possible que pour un dossier en vérification ou incomplet.",
        ),
        (
            (State.EN_VERIFICATION, Action.CONFIRM_CORRECTIONS, Actor.CANDIDATE),
            "Impossible de valider « J'ai effectué les corrections demandées » : le dossier est en "
            "vérification. Ce n'est possible que pour un dossier incomplet. Pour toute question, "
            "contactez le pôle qui gère votre examen.",
        ),
        (
            (State.IRRECEVABLE, Action.WITHDRAW, Actor.CANDIDATE),
            "Impossible d'enregistrer un désistement : le dossier est irrecevable. Ce n'est possible que "
            "pour un dossier en brouillon, déposé, en vérification, incomplet ou complet. Pour toute "
            "question, contactez le pôle qui gère votre examen.",
        ),
        (
            (State.DESISTE, Action.RESUME, Actor.STAFF),
            "Impossible de reprendre la vérification : le dossier est clos : le candidat s'est désisté. "
            "Ce n'est possible que pour un dossier incomplet, complet ou irrecevable.",
        ),
        (
            (State.INCOMPLET, Action.CONFIRM_CORRECTIONS, Actor.STAFF),
            "Seul le candidat peut valider « J'ai effectué les corrections demandées ».",
        ),
        (
            (State.DEPOSE, Action.START, Actor.CANDIDATE),
            "Seul le service des examens peut commencer la vérification.",
        ),
    ],
    ids=lambda v: ids(v) if isinstance(v, tuple) else "message",
)
def test_refusals_read_as_sentences(key, message):
    with pytest.raises(TransitionRefused) as caught:
        next_state(*key)
    assert caught.value.message == message


def test_every_state_is_reachable_and_only_desiste_is_final():
    reached, frontier = {State.BROUILLON}, [State.BROUILLON]
    while frontier:
        state = frontier.pop()
        for (source, _, _), target in TRANSITIONS.items():
            if source is state and target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(State)
    finals = {s for s in State if not any(source is s for source, _, _ in TRANSITIONS)}
    assert finals == {State.DESISTE}


# -- state_of --------------------------------------------------------------------------------


def test_an_enrolment_without_review_part_is_brouillon_or_depose():
    draft, done = saved(), deposited()
    assert "review" not in draft and "review" not in done
    assert state_of(draft) is State.BROUILLON
    assert state_of(done) is State.DEPOSE
    assert state_of({"status": "saved"}) is State.BROUILLON
    assert state_of({"status": "complete"}) is State.DEPOSE


def test_the_office_states_are_read_from_the_review_part():
    doc = rules.start(deposited(), STAFF_ID, CHECKING)
    assert doc["review"]["state"] == "en_verification" and state_of(doc) is State.EN_VERIFICATION
    doc["status"] = "saved"  # an edit of the form after the office started does not undo its state
    assert state_of(doc) is State.EN_VERIFICATION


def test_the_candidate_side_follows_the_enrolment_status_even_with_a_review_part():
    """A note added on a brouillon creates the review part: the later « J'ai fourni toutes mes
    pièces » (done by the enrolment feature) still makes the dossier déposé."""
    doc = rules.add_note(saved(), STAFF_ID, "Candidat appelé", CHECKING)
    assert doc["review"]["state"] == "brouillon" and state_of(doc) is State.BROUILLON
    doc["status"] = "complete"
    assert state_of(doc) is State.DEPOSE


# -- the same table, through the rules that carry out each action -----------------------------

RULE_ACTIONS = {
    Action.START: lambda doc, now: rules.start(doc, STAFF_ID, now),
    Action.REQUEST_CORRECTION: lambda doc, now: rules.request_correction(doc, NOTICE, STAFF_ID, now),
    Action.CONFIRM_CORRECTIONS: lambda doc, now: rules.confirm_corrections(doc, NOTICE, ACCOUNT_ID, now),
    Action.ACCEPT: lambda doc, now: rules.accept(doc, NOTICE, STAFF_ID, now),
    Action.DECLARE_INELIGIBLE: lambda doc, now: rules.declare_ineligible(
        doc, NOTICE, STAFF_ID, now, "conditions"
    ),
    Action.RESUME: lambda doc, now: rules.resume(doc, STAFF_ID, now),
    Action.WITHDRAW: lambda doc, now: rules.withdraw(doc, ACCOUNT_ID, now),
}
RULE_CASES = list(itertools.product(State, RULE_ACTIONS))


def test_the_candidate_edits_the_enrolment_only_while_the_dossier_is_on_their_side():
    """Brouillon and déposé: « M'inscrire » still changes the enrolment; from the office's first
    step on (en vérification and after), it does not."""
    assert {s for s in State if states.candidate_may_edit(s)} == {State.BROUILLON, State.DEPOSE}


def test_every_action_but_the_enrolment_features_has_a_rule():
    assert set(Action) - set(RULE_ACTIONS) == {Action.DEPOSIT, Action.REOPEN}


@pytest.mark.parametrize(("state", "action"), RULE_CASES, ids=lambda v: str(v))
def test_each_rule_follows_the_table(state, action):
    """Allowed: the rule moves the dossier to the table's state and records it in the history.
    Refused: TransitionRefused, and the document is exactly as it was."""
    doc = in_state(state, ready_for=action)
    assert state_of(doc) is state
    before = snapshot(doc)
    now = CHECKING + timedelta(days=3)
    key = (state, action, ACTOR_OF[action])
    if key in TRANSITIONS:
        RULE_ACTIONS[action](doc, now)
        assert state_of(doc) is TRANSITIONS[key]
        last = doc["review"]["history"][-1]
        assert last["action"] == action
        assert last["actor"] == ACTOR_OF[action]
        assert last["actor_id"] == (STAFF_ID if ACTOR_OF[action] is Actor.STAFF else ACCOUNT_ID)
        assert (last["details"]["from"], last["details"]["to"]) == (state, TRANSITIONS[key])
        assert rules.history_intact(doc)
    else:
        with pytest.raises(TransitionRefused) as caught:
            RULE_ACTIONS[action](doc, now)
        assert caught.value.message == refusal_message(*key)
        assert doc == before


# -- purity -------------------------------------------------------------------------------------


@pytest.mark.parametrize("module", ["formservice.review.states", "formservice.review.rules"])
def test_the_review_core_is_pure(module):
    """No web, template or storage library in the states and the rules (house rule 2)."""
    bad = {t for t in layers.imports_of(module) if layers.within(t, *layers.IMPURE_LIBRARIES)}
    assert not bad
