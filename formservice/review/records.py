"""The review as stored, inside its enrolment: the decisions on the pieces, the correction
requests, the chained history and the office's private notes (defined with the store contract,
which the engines share; re-exported here like ``enrolment.records``)."""

from formservice.store.records import Correction, Enrolment, HistoryEvent, Note, PieceDecision, Review

__all__ = ["Correction", "Enrolment", "HistoryEvent", "Note", "PieceDecision", "Review"]
