"""« M'inscrire », « Mes documents » and « Signaler un changement d'adresse »; and what every page
of the space starts from (``Space``, with where the dossier stands with the office:
``dossier.DossierView``).

Thin handlers: parse, call EnrolmentService (which runs the rules inside the store's atomic
update), render or redirect. Every refusal is a French sentence on the page the candidate was
on, with what they typed kept.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from formservice.accounts.records import Account
from formservice.enrolment import rules
from formservice.enrolment.deadlines import (
    DeadlineError,
    Phase,
    documents_window,
    ensure_registration_open,
    registration_window,
)
from formservice.enrolment.records import Enrolment
from formservice.enrolment.service import SaveOutcome
from formservice.enrolment.wording import de
from formservice.errors import AppError, NotFound
from formservice.notice import Notice
from formservice.review.states import State, state_of
from formservice.web.auth import require_account
from formservice.web.candidate.dossier import dossier_view
from formservice.web.forms import client_ip, form_values
from formservice.web.pdf import html_to_pdf
from formservice.web.rendering import page_context, render
from formservice.web.services import services

INFO = {
    "enregistree": "Votre pré-inscription est enregistrée. Un courriel de confirmation vous a été envoyé.",
    "modifiee": "Vos modifications sont enregistrées. Un courriel récapitulatif vous a été envoyé.",
    "pieces": (
        "Vos modifications sont enregistrées. Elles changent la liste des pièces justificatives "
        "demandées : vérifiez-la ci-dessous. Un courriel récapitulatif vous a été envoyé."
    ),
    "rouverte": (
        "Vos modifications sont enregistrées. Elles changent la liste des pièces justificatives "
        "demandées : le dépôt de vos pièces est rouvert, et « J'ai fourni toutes mes pièces » est à "
        "valider de nouveau. Un courriel récapitulatif vous a été envoyé."
    ),
    "inchangee": "Aucune modification : votre pré-inscription était déjà à jour.",
    "ajoute": "Le fichier a été ajouté.",
    "supprime": "Le fichier a été supprimé.",
    "complet": (
        "C'est fait : vous avez fourni toutes vos pièces. L'accusé de réception vous a été envoyé par "
        "courriel et reste disponible dans « Mes documents »."
    ),
    "rouvert": (
        "Le dépôt de vos pièces est rouvert : ajoutez ou supprimez des fichiers, puis validez de "
        "nouveau « J'ai fourni toutes mes pièces »."
    ),
    "adresse": (
        "Votre nouvelle adresse a été transmise au pôle ; elle figure désormais sur vos documents. Une "
        "copie vous a été envoyée par courriel."
    ),
    "corrections": (
        "C'est fait : vos corrections sont transmises au pôle, qui va vérifier de nouveau les pièces "
        "remplacées. Vous serez informé ou informée par courriel de sa décision."
    ),
}
# The documents a dossier has beyond the notice's ``downloads`` (named there, for what they are
# during the pre-registration): each shown only once it is true.
LATER_DOCUMENTS = {
    "accuse": "Accusé de réception des pièces justificatives",  # once déposé
    "attestation": "Attestation d'inscription définitive",  # once complet
}


@dataclass
class Space:
    """What every page of the space starts from: read once per request."""

    account: Account
    notice: Notice
    now: datetime
    enrolment: Enrolment | None
    context: dict[str, Any]


async def space_of(request: Request) -> Space:
    """The account, the notice, now, the current enrolment (one read) and what every page shows."""
    account = await require_account(request)
    svc = services(request)
    notice = svc.notice()
    now = svc.clock.now()
    enrolment = await svc.enrolment.current(account["id"], notice)
    data = enrolment["data"] if enrolment else {}
    pole = rules.pole_of(notice, data)
    dossier = dossier_view(notice, enrolment, now, pole) if enrolment and enrolment.get("version") else None
    documents_writable = documents_window(notice, now) is Phase.OPEN
    context = {
        "enrolment": enrolment,
        "pole": pole,
        "labels": rules.LABELS,
        "statuses": rules.STATUSES,
        "required": rules.required_documents(notice, data) if data else [],
        "writable": registration_window(notice, now) is Phase.OPEN,
        "documents_writable": documents_writable,
        # « Ajouter », « Supprimer », « J'ai fourni toutes mes pièces » on every piece
        "pieces_writable": documents_writable
        and enrolment is not None
        and enrolment.get("status") != rules.STATUS_COMPLETE
        and not (dossier and dossier.closed),
        "dossier": dossier,
        # why « M'inscrire » no longer changes the enrolment (the office has it), or None
        "edit_refusal": rules.edit_refusal(enrolment, notice) if enrolment else None,
        "info": INFO.get(request.query_params.get("info", "")),
        "problem": None,
    }
    return Space(account, notice, now, enrolment, context)


def audit(request: Request, event: str, account: Mapping[str, Any], **fields: Any) -> None:
    """Enrolment events in the audit log (pseudonymous, no personal data): who did what, when."""
    services(request).audit.event(event, account_id=account["id"], ip=client_ip(request), **fields)


def redirect(request: Request, name: str, info: str, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(f"{request.app.url_path_for(name)}?info={info}{anchor}", status_code=303)


# -- « M'inscrire » ------------------------------------------------------------------------------


def _conflict_message(exc: rules.VersionConflict, typed: Mapping[str, Any], notice: Notice) -> str:
    """Nothing is overwritten and nothing typed is lost: say which fields differ from the stored version."""
    stored = (exc.current or {}).get("data", {})
    differing = [label for label, _, _ in rules.changes(stored, typed, notice)]
    if not differing:
        return exc.message
    return exc.message + " Champs différents de la version enregistrée : " + ", ".join(differing) + "."


@dataclass
class EnrolForm:
    """The form as the page shows it: what was typed (or stored), its errors, its version."""

    values: Mapping[str, Any]
    version: int
    errors: dict[str, str]
    status: int = 200


async def _starting_form(request: Request, space: Space) -> tuple[EnrolForm, bool]:
    """The stored enrolment, or a returning candidate's identity from last session (prefilled)."""
    if space.enrolment and space.enrolment.get("version"):
        # the address in force, when one was reported since: a save does not bring the old one back
        return EnrolForm(rules.current_data(space.enrolment), space.enrolment["version"], {}), False
    previous = await services(request).enrolment.previous(space.account["id"], space.notice)
    values = rules.starting_point(previous)
    return EnrolForm(values, 0, {}), bool(values)


async def _submit(request: Request, space: Space) -> EnrolForm | Response:
    """« Enregistrer »: the redirect on success; else the form with what was typed and why not."""
    raw = await form_values(request)
    result = rules.read_form(raw, space.notice)
    try:
        version = int(raw.get("version", "0"))
    except ValueError:
        version = -1
    form = EnrolForm(result.data, version, dict(result.errors), 400)
    if not result.ok:
        return form
    try:
        outcome = await services(request).enrolment.save(
            space.account, space.enrolment, result.data, version, space.notice, space.now
        )
    except rules.VersionConflict as exc:
        # The form keeps the candidate's input, now based on the latest version.
        space.context.update(problem=_conflict_message(exc, result.data, space.notice), enrolment=exc.current)
        return EnrolForm(result.data, (exc.current or {}).get("version", 0), form.errors, 409)
    except AppError as exc:
        space.context["problem"] = exc.message
        return EnrolForm(result.data, version, form.errors, exc.status)
    audit(request, "enrolment.saved", space.account, version=outcome.enrolment["version"])
    return redirect(request, "enrol", _saved_info(outcome))


def _saved_info(outcome: SaveOutcome) -> str:
    if outcome.first:
        return "enregistree"
    if outcome.reopened:
        return "rouverte"
    if outcome.pieces_changed:
        return "pieces"
    return "modifiee" if outcome.changes else "inchangee"


SAVED_INFOS = ("enregistree", "modifiee", "pieces", "rouverte", "inchangee")


def next_step(space: Space) -> str | None:
    """What comes after « Enregistrer », for the page: ``"deposit"`` (pieces missing),
    ``"validate"`` (every piece has a file, « J'ai fourni toutes mes pièces » not clicked),
    ``"done"`` (déposé, the office not started yet), None (nothing saved, or the office has it)."""
    enrolment, dossier = space.enrolment, space.context["dossier"]
    if not enrolment or not enrolment.get("version") or (dossier and dossier.acted):
        return None
    if enrolment.get("status") == rules.STATUS_COMPLETE:
        return "done"
    return "deposit" if rules.missing_documents(space.notice, enrolment) else "validate"


# The element an error summary's link leads to, when it is not the field's own id.
ERROR_ANCHORS = {"status": "status-" + next(iter(rules.STATUSES))}


async def enrol(request: Request) -> Response:
    space = await space_of(request)
    context = space.context
    form, prefilled = await _starting_form(request, space)
    if request.method == "POST":
        submitted = await _submit(request, space)
        if isinstance(submitted, Response):
            return submitted
        form, prefilled = submitted, False
    context.update(
        form=form.values,
        errors=form.errors,
        version=form.version,
        prefilled=prefilled,
        closed_reason=""
        if context["writable"]
        else _window_message(space.notice, space.now, context["pole"]),
    )
    if context["edit_refusal"] and context["writable"]:
        context.update(writable=False, closed_reason=context["edit_refusal"])
    context.update(
        next_step=next_step(space) if request.query_params.get("info") in SAVED_INFOS else None,
        missing=rules.missing_documents(space.notice, space.enrolment) if space.enrolment else [],
        anchors=ERROR_ANCHORS,
    )
    return await render(request, "candidate/enrolment/enrol.html", context, status=form.status)


def _window_message(notice: Notice, now: datetime, pole: Any) -> str:
    try:
        ensure_registration_open(notice, now, pole)
    except DeadlineError as exc:
        return exc.message
    return ""


# -- « Mes documents » ---------------------------------------------------------------------------


async def my_documents(request: Request) -> Response:
    space = await space_of(request)
    space.context.update(later_documents=LATER_DOCUMENTS)
    return await render(request, "candidate/enrolment/documents.html", space.context)


async def _printable_html(request: Request, kind: str, *, is_pdf: bool) -> tuple[str, str]:
    space = await space_of(request)
    enrolment, notice = space.enrolment, space.notice
    title = document_title(notice, enrolment, kind) if enrolment and enrolment.get("version") else None
    if title is None or enrolment is None:
        raise NotFound()
    data = rules.current_data(enrolment)  # with the address reported since the last save, if any
    found = notice.speciality(data.get("speciality", ""))
    if found is None:  # the catalogue changed under the enrolment
        raise NotFound(
            "La spécialité de votre inscription n'existe plus dans la note : contactez votre pôle."
        )
    exam, speciality = found
    rows = [(rules.LABELS[name], rules.display_value(name, data.get(name), notice)) for name in rules.LABELS]
    values = await page_context(request)
    values.update(space.context)
    values.update(
        kind=kind,
        title=title,
        de=de,
        data=data,
        rows=[r for r in rows if r[1]],
        exam=exam,
        speciality=speciality,
        birth_date=date.fromisoformat(data["birth_date"]),
        generated_at=space.now,
        account=space.account,
        is_pdf=is_pdf,
        document_names={d.id: d.name for d in notice.documents},
        decided_at=dossier.decided_at if (dossier := space.context["dossier"]) else None,
    )
    html = services(request).env.get_template("candidate/documents/printable.html").render(values)
    return html, f"{kind}-{enrolment['id']}-v{enrolment['version']}.pdf"


def document_title(notice: Notice, enrolment: Enrolment, kind: str) -> str | None:
    """The document ``kind`` named for what it is now, or None if it does not exist yet: the
    notice's documents of the pre-registration, the receipt once the pieces are déposé, the
    attestation only once the dossier is complet (the inscription is then définitive)."""
    named = {d.id: d.name for d in notice.downloads}
    if kind in named:
        return named[kind]
    if kind == "accuse" and enrolment.get("status") == rules.STATUS_COMPLETE:
        return LATER_DOCUMENTS[kind]
    if kind == "attestation" and state_of(enrolment) is State.COMPLET:
        return LATER_DOCUMENTS[kind]
    return None


async def printable(request: Request) -> Response:
    html, _name = await _printable_html(request, request.path_params["kind"], is_pdf=False)
    return HTMLResponse(html)


async def printable_pdf(request: Request) -> Response:
    html, name = await _printable_html(request, request.path_params["kind"], is_pdf=True)
    pdf = await services(request).enrolment.run_cpu_bound(functools.partial(html_to_pdf, html))
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# -- « Signaler un changement d'adresse » -------------------------------------------------------


async def address_change(request: Request) -> Response:
    space = await space_of(request)
    context = space.context
    errors: dict[str, str] = {}
    form: Mapping[str, Any] = {}
    status = 200
    if request.method == "POST":
        result = rules.read_address(await form_values(request))
        form, errors = result.data, result.errors
        if result.ok:
            try:
                await services(request).enrolment.request_address_change(
                    space.account, space.enrolment, result.data, space.notice, space.now
                )
            except AppError as exc:
                context["problem"] = exc.message
                status = exc.status
            else:
                audit(request, "enrolment.address_change", space.account)
                return redirect(request, "address_change", "adresse")
        else:
            status = 400
    address_labels = {name: rules.LABELS[name] for name in rules.ADDRESS_FIELDS}
    context.update(form=form, errors=errors, address_labels=address_labels)
    return await render(request, "candidate/enrolment/address.html", context, status=status)
