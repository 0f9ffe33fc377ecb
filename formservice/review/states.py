"""The states of a dossier, as one pure state machine: ``TRANSITIONS`` is the whole of it.

::

    brouillon ──deposit──▶ déposé ──start──▶ en vérification ──request_correction──▶ incomplet
        ▲                    │                 │        ▲                              │  │
        └──────reopen────────┘                 │        └──confirm_corrections/resume──┘  │
                                               └──accept──▶ complet ◀──────accept─────────┘
    declare_ineligible ──▶ irrecevable (from déposé, en vérification, incomplet, complet)
    withdraw ──▶ désisté (by the candidate, from any state but irrecevable and désisté)
    resume ──▶ en vérification (by the office, from incomplet, complet, irrecevable)

A key is ``(state, action, actor)``: who may do what from where; every other combination is
refused with ``TransitionRefused`` (409) and a French sentence saying why. ``brouillon`` and
``déposé`` belong to the candidate's side and are read from the enrolment's status
(``state_of``): the office's states are stored in the review part of the enrolment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from formservice.enrolment.records import STATUS_COMPLETE
from formservice.errors import Conflict


class State(StrEnum):
    BROUILLON = "brouillon"  # saved, pieces not confirmed
    DEPOSE = "depose"  # « J'ai fourni toutes mes pièces »
    EN_VERIFICATION = "en_verification"  # a staff member started
    INCOMPLET = "incomplet"  # at least one piece non conforme: correction requested
    COMPLET = "complet"  # every required piece conforme or non concerné: inscription définitive
    IRRECEVABLE = "irrecevable"  # with a reason of the notice's review.ineligibility_reasons
    DESISTE = "desiste"  # the candidate withdrew


class Actor(StrEnum):
    CANDIDATE = "candidate"
    STAFF = "staff"


class Action(StrEnum):
    DEPOSIT = "deposit"
    REOPEN = "reopen"
    START = "start"
    REQUEST_CORRECTION = "request_correction"
    CONFIRM_CORRECTIONS = "confirm_corrections"
    ACCEPT = "accept"
    DECLARE_INELIGIBLE = "declare_ineligible"
    RESUME = "resume"
    WITHDRAW = "withdraw"


S, A = State, Action
_C, _S = Actor.CANDIDATE, Actor.STAFF

# The state machine: (state, action, actor) -> new state. Nothing else is allowed.
TRANSITIONS: Mapping[tuple[State, Action, Actor], State] = MappingProxyType(
    {
        # the candidate's side (done by the enrolment feature, which owns the status)
        (S.BROUILLON, A.DEPOSIT, _C): S.DEPOSE,
        (S.DEPOSE, A.REOPEN, _C): S.BROUILLON,  # a change of the form that alters the pieces
        # the office's check
        (S.DEPOSE, A.START, _S): S.EN_VERIFICATION,
        (S.EN_VERIFICATION, A.REQUEST_CORRECTION, _S): S.INCOMPLET,
        (S.INCOMPLET, A.REQUEST_CORRECTION, _S): S.INCOMPLET,  # a new request, a new deadline
        (S.INCOMPLET, A.CONFIRM_CORRECTIONS, _C): S.EN_VERIFICATION,
        (S.EN_VERIFICATION, A.ACCEPT, _S): S.COMPLET,
        (S.INCOMPLET, A.ACCEPT, _S): S.COMPLET,  # every replaced piece re-checked conforme
        (S.DEPOSE, A.DECLARE_INELIGIBLE, _S): S.IRRECEVABLE,
        (S.EN_VERIFICATION, A.DECLARE_INELIGIBLE, _S): S.IRRECEVABLE,
        (S.INCOMPLET, A.DECLARE_INELIGIBLE, _S): S.IRRECEVABLE,
        (S.COMPLET, A.DECLARE_INELIGIBLE, _S): S.IRRECEVABLE,
        # the office takes a dossier back (a deadline passed, a decision to correct)
        (S.INCOMPLET, A.RESUME, _S): S.EN_VERIFICATION,
        (S.COMPLET, A.RESUME, _S): S.EN_VERIFICATION,
        (S.IRRECEVABLE, A.RESUME, _S): S.EN_VERIFICATION,
        # the candidate withdraws
        (S.BROUILLON, A.WITHDRAW, _C): S.DESISTE,
        (S.DEPOSE, A.WITHDRAW, _C): S.DESISTE,
        (S.EN_VERIFICATION, A.WITHDRAW, _C): S.DESISTE,
        (S.INCOMPLET, A.WITHDRAW, _C): S.DESISTE,
        (S.COMPLET, A.WITHDRAW, _C): S.DESISTE,
    }
)

# Who does each action: one kind of actor per action.
ACTOR_OF: Mapping[Action, Actor] = MappingProxyType({action: actor for (_, action, actor) in TRANSITIONS})

# The states the candidate's side derives from the enrolment's status; the others are stored.
CANDIDATE_SIDE = frozenset({State.BROUILLON, State.DEPOSE})

# The states in which the candidate may still change the enrolment (« M'inscrire »): the dossier
# is theirs until the office starts checking it. From then on a change would alter, under the
# office's eyes, what it is checking or has decided: the candidate asks the pôle instead (only a
# change of address is still reported online, by a mail the pôle reads).
CANDIDATE_EDITABLE = CANDIDATE_SIDE

LABELS: Mapping[State, str] = MappingProxyType(
    {
        State.BROUILLON: "Brouillon",
        State.DEPOSE: "Déposé",
        State.EN_VERIFICATION: "En vérification",
        State.INCOMPLET: "Incomplet",
        State.COMPLET: "Complet",
        State.IRRECEVABLE: "Irrecevable",
        State.DESISTE: "Désisté",
    }
)

# « le dossier est … »
_IS: Mapping[State, str] = MappingProxyType(
    {
        State.BROUILLON: "en brouillon (pièces pas encore confirmées par le candidat)",
        State.DEPOSE: "déposé",
        State.EN_VERIFICATION: "en vérification",
        State.INCOMPLET: "incomplet (corrections demandées)",
        State.COMPLET: "complet (inscription définitive)",
        State.IRRECEVABLE: "irrecevable",
        State.DESISTE: "clos : le candidat s'est désisté",
    }
)

# « pour un dossier … »
_SHORT: Mapping[State, str] = MappingProxyType(
    {
        State.BROUILLON: "en brouillon",
        State.DEPOSE: "déposé",
        State.EN_VERIFICATION: "en vérification",
        State.INCOMPLET: "incomplet",
        State.COMPLET: "complet",
        State.IRRECEVABLE: "irrecevable",
        State.DESISTE: "désisté",
    }
)

# What the action does, as an infinitive: « Impossible de … », « Seul le candidat peut … ».
ACTION_TEXT: Mapping[Action, str] = MappingProxyType(
    {
        Action.DEPOSIT: "valider « J'ai fourni toutes mes pièces »",
        Action.REOPEN: "rouvrir le dépôt des pièces",
        Action.START: "commencer la vérification",
        Action.REQUEST_CORRECTION: "demander des corrections",
        Action.CONFIRM_CORRECTIONS: "valider « J'ai effectué les corrections demandées »",
        Action.ACCEPT: "accepter le dossier (inscription définitive)",
        Action.DECLARE_INELIGIBLE: "déclarer le dossier irrecevable",
        Action.RESUME: "reprendre la vérification",
        Action.WITHDRAW: "enregistrer un désistement",
    }
)

CANDIDATE_CONTACT = "Pour toute question, contactez le pôle qui gère votre examen."


class ReviewError(Conflict):
    """A review action refused by a rule; ``message`` is shown as is (409, or the status given:
    404 for a dossier or a piece that does not exist, 400 for a malformed input)."""


class TransitionRefused(ReviewError):
    """``(state, action, actor)`` is not in ``TRANSITIONS``."""

    def __init__(self, state: State, action: Action, actor: Actor):
        self.state, self.action, self.actor = state, action, actor
        super().__init__(refusal_message(state, action, actor))


def _elide(text: str) -> str:
    """« de » before the infinitive, « d' » before a vowel."""
    return ("d'" if text[:1].lower() in "aeéèêioôu" else "de ") + text


def _either(items: Iterable[str]) -> str:
    words = list(items)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " ou " + words[-1]


def sources(action: Action, actor: Actor) -> list[State]:
    """The states from which ``actor`` may do ``action``, in the order of ``State``."""
    return [s for s in State if (s, action, actor) in TRANSITIONS]


def refusal_message(state: State, action: Action, actor: Actor) -> str:
    """Why ``actor`` may not do ``action`` on a dossier in ``state``, in French."""
    owner = ACTOR_OF[action]
    if owner is not actor:
        who = "le service des examens" if owner is Actor.STAFF else "le candidat"
        return f"Seul {who} peut {ACTION_TEXT[action]}."
    possible = sources(action, actor)
    text = (
        f"Impossible {_elide(ACTION_TEXT[action])} : le dossier est {_IS[state]}. "
        f"Ce n'est possible que pour un dossier {_either(_SHORT[s] for s in possible)}."
    )
    return f"{text} {CANDIDATE_CONTACT}" if actor is Actor.CANDIDATE else text


def described(state: State) -> str:
    """« le dossier est … », in words: ``described(State.INCOMPLET)`` is « incomplet
    (corrections demandées) »."""
    return _IS[state]


def candidate_may_edit(state: State) -> bool:
    """May the candidate still change the enrolment of a dossier in ``state``?"""
    return state in CANDIDATE_EDITABLE


def allowed(state: State, action: Action, actor: Actor) -> bool:
    return (state, action, actor) in TRANSITIONS


def next_state(state: State, action: Action, actor: Actor) -> State:
    """The state after ``action``; TransitionRefused if the machine does not allow it."""
    try:
        return TRANSITIONS[(state, action, actor)]
    except KeyError:
        raise TransitionRefused(state, action, actor) from None


def actions_for(state: State, actor: Actor) -> list[Action]:
    """What ``actor`` may do on a dossier in ``state`` (the buttons a page shows)."""
    return [a for a in Action if (state, a, actor) in TRANSITIONS]


def state_of(enrolment: Mapping[str, Any]) -> State:
    """The dossier's state: the office's, once it acted (stored in ``review.state``); before,
    or back on the candidate's side, read from the enrolment's status (saved → brouillon,
    complete → déposé). An enrolment without a review part is therefore brouillon or déposé."""
    review = enrolment.get("review")
    if review:
        stored = State(review["state"])
        if stored not in CANDIDATE_SIDE:
            return stored
    return State.DEPOSE if enrolment.get("status") == STATUS_COMPLETE else State.BROUILLON
