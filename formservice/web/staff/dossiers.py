"""/gestion/ (home), /gestion/dossiers (the list), /gestion/dossiers/{id} (a dossier: its
enrolment, pieces, decisions, history, notes), a piece's file, and the office's actions.

Every page first checks the member may see the dossier's pôle (404 otherwise); every look at a
candidate's file is written to the audit log."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from formservice.enrolment import rules as enrolment_rules
from formservice.errors import AppError, BadRequest, NotFound
from formservice.reporting.statistics import by_pole
from formservice.review import rules as review_rules
from formservice.review.listing import PIECES_LABELS, WAITING_LABELS, PiecesState, Waiting
from formservice.review.service import DossierFilter
from formservice.review.states import LABELS, Action, Actor, State, actions_for, state_of
from formservice.typography import french_text, typeset_block
from formservice.uploads import render
from formservice.web.downloads import stored_file_response
from formservice.web.forms import client_ip, form_lists, form_values
from formservice.web.rendering import render as render_page
from formservice.web.rendering import url_path
from formservice.web.services import services
from formservice.web.staff import auth

ACTION_LABELS = {
    Action.START: "Commencer la vérification",
    Action.REQUEST_CORRECTION: "Demander les corrections au candidat",
    Action.ACCEPT: "Valider le dossier (inscription définitive)",
    Action.RESUME: "Reprendre la vérification",
    Action.DECLARE_INELIGIBLE: "Déclarer le dossier irrecevable",
}
INFO = {
    "decision": "La décision sur la pièce est enregistrée.",
    "start": "La vérification du dossier est commencée.",
    "request_correction": "La demande de corrections est envoyée au candidat.",
    "accept": "Le dossier est complet : le candidat en est informé.",
    "resume": "La vérification est reprise.",
    "declare_ineligible": "Le dossier est déclaré irrecevable : le candidat en est informé.",
    "note": "La note est ajoutée au dossier.",
}


async def home(request: Request) -> Response:
    """What the member's pôles hold (by state, by pôle) and what waits for them, from the
    store's counts (no dossier is read)."""
    staff = await auth.require_staff(request)
    svc = services(request)
    notice = svc.notice()
    visible = auth.poles_of(staff, notice)
    everything = DossierFilter(poles=visible)
    by_state = await svc.review.count_by("state", everything)
    by_speciality = await svc.review.count_by("speciality", everything)
    waiting = await svc.review.count_by("waiting", everything)
    context = {
        "staff": staff,
        "poles": [p for p in notice.poles if p.id in visible],
        "counts": [(state, LABELS[state], by_state.get(state.value, 0)) for state in State],
        "by_pole": by_pole(notice, visible, by_speciality),
        "waiting": [(w, WAITING_LABELS[w], waiting.get(w.value, 0)) for w in Waiting],
        "total": sum(by_state.values()),
        "site": svc.site_status(),
    }
    return await render_page(request, "staff/home.html", context)


TEXTS = ("name", "number", "exam", "speciality", "state", "pieces")  # shown as text: typeset here


def list_row(row: Mapping[str, str]) -> str:
    """One row of the list as HTML, every value escaped. Written in Python rather than in a
    Jinja loop: a page shows 50 rows, and this costs a fraction of the loop's per-row price."""
    e = {key: escape(french_text(value) if key in TEXTS else value) for key, value in row.items()}
    return (
        f'<tr><td><input type="checkbox" name="dossiers" value="{e["id"]}" id="sel-{e["id"]}"'
        f' aria-label="Sélectionner le dossier de {e["name"]}"></td>'
        f'<th scope="row"><a href="{e["href"]}">{e["name"]}</a></th><td>{e["number"]}</td>'
        f"<td>{e['exam']}</td><td>{e['speciality']}</td><td>{e['state']}</td><td>{e['pieces']}</td></tr>\n"
    )


_PIECES_BY_VALUE = {state.value: label for state, label in PIECES_LABELS.items()}


def _pieces_label(value: str | None) -> str:
    return _PIECES_BY_VALUE.get(value or "", "")


def _choice(value: str, allowed: Iterable[str]) -> str:
    """A filter's value from the URL, or "" (all) if it is not one the list offers: an old
    bookmark or a hand-edited link widens the list rather than failing."""
    return value if value in allowed else ""


def list_filters(params: Mapping[str, str], visible: list[str], notice: Any) -> DossierFilter:
    specialities = [s.id for e in notice.exams for s in e.specialities]
    return DossierFilter(
        poles=visible,
        pole=_choice(params.get("pole", ""), visible),
        exam=_choice(params.get("examen", ""), [e.id for e in notice.exams]),
        speciality=_choice(params.get("specialite", ""), specialities),
        state=_choice(params.get("etat", ""), [s.value for s in State]),
        pieces=_choice(params.get("pieces", ""), [p.value for p in PiecesState]),
        waiting=_choice(params.get("attente", ""), [w.value for w in Waiting]),
        query=params.get("q", "")[:200],
    )


def _url_params(filters: DossierFilter) -> dict[str, str]:
    """The filters as they go back into the URL (bookmarkable), empty ones left out."""
    named = {
        "q": filters.query,
        "pole": filters.pole,
        "examen": filters.exam,
        "specialite": filters.speciality,
        "etat": filters.state,
        "pieces": filters.pieces,
        "attente": filters.waiting,
    }
    return {k: v for k, v in named.items() if v}


async def dossier_list(request: Request) -> Response:
    staff = await auth.require_staff(request)
    svc = services(request)
    notice = svc.notice()
    visible = auth.poles_of(staff, notice)
    filters = list_filters(request.query_params, visible, notice)
    try:
        page = max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        page = 1
    listing = await svc.review.dossiers(filters, page=page)
    href = url_path(request.app.router, "staff_dossier", dossier_id="_ID_")
    rows = [
        {
            "id": doc["id"],
            "number": enrolment_rules.number_of(doc),
            "href": href.replace("_ID_", doc["id"]),
            "name": listed_name(doc),
            "state": LABELS[state_of(doc)],
            "pieces": _pieces_label(doc.get("pieces_state")),
            "exam": doc["data"].get("exam", ""),
            "speciality": enrolment_rules.display_value("speciality", doc["data"].get("speciality"), notice),
        }
        for doc in listing.rows
    ]
    params = _url_params(filters)
    context = {
        "staff": staff,
        "rows": rows,
        "rows_html": Markup(typeset_block("".join(map(list_row, rows)))),
        "listing": listing,
        "filters": params,
        "page_url": lambda n: "?" + urlencode({**params, "page": n}),
        "poles": [p for p in notice.poles if p.id in visible],
        "specialities": [(e, s) for e in notice.exams for s in e.specialities if s.pole in visible],
        "states": [(s.value, LABELS[s]) for s in State],
        "pieces_states": [(p.value, PIECES_LABELS[p]) for p in PiecesState],
        "waiting": [(w.value, WAITING_LABELS[w]) for w in Waiting],
        "bulk": BULK,
    }
    return await render_page(request, "staff/dossiers.html", context)


def listed_name(doc: Any) -> str:
    """« DURAND Camille »: how the office's pages name a candidate (the list is in this order)."""
    data = doc.get("data", {})
    return f"{str(data.get('last_name', '')).upper()} {data.get('first_names', '')}".strip()


async def _visible_dossier(request: Request) -> tuple[Any, Any, Any]:
    staff = await auth.require_staff(request)
    svc = services(request)
    notice = svc.notice()
    doc = auth.ensure_visible(staff, notice, await svc.review.get(request.path_params["dossier_id"]))
    return staff, notice, doc


async def dossier(request: Request) -> Response:
    staff, notice, doc = await _visible_dossier(request)
    return await _dossier_page(request, staff, notice, doc)


async def _dossier_page(
    request: Request, staff: Any, notice: Any, doc: Any, *, problem: str | None = None, status: int = 200
) -> Response:
    state = state_of(doc)
    review: dict[str, Any] = dict(review_rules.review_of(doc) or {})
    rows = [
        (enrolment_rules.LABELS[name], enrolment_rules.display_value(name, doc["data"].get(name), notice))
        for name in enrolment_rules.LABELS
    ]
    context = {
        "staff": staff,
        "doc": doc,
        "name": listed_name(doc),
        "rows": [r for r in rows if r[1]],
        "state": state,
        "state_label": LABELS[state],
        "pieces": review_rules.pieces(doc, notice),
        "status_text": review_rules.STATUS_TEXT,
        "actions": [
            (a.value, ACTION_LABELS[a]) for a in actions_for(state, Actor.STAFF) if a in ACTION_LABELS
        ],
        "decidable": state in (State.EN_VERIFICATION, State.INCOMPLET),
        "reasons": notice.review.refusal_reasons,
        "ineligibility_reasons": notice.review.ineligibility_reasons,
        "correction": review_rules.current_correction(doc),
        "deadline_text": lambda value: review_rules.deadline_text(notice, value),
        "history": list(reversed(review.get("history", []))),
        "history_labels": review_rules.HISTORY_LABELS,
        "notes": list(reversed(review.get("notes", []))),
        "address_changes": list(reversed(doc.get("address_changes", []))),
        "info": None if problem else INFO.get(request.query_params.get("info", "")),
        "problem": problem,
    }
    return await render_page(request, "staff/dossier.html", context, status=status)


MISSING = "Ce fichier n'est plus dans le stockage : demandez au candidat de le déposer de nouveau."


async def _visible_file(request: Request) -> tuple[Any, Any, Any]:
    staff, _notice, doc = await _visible_dossier(request)
    file_id = request.path_params["file_id"]
    meta = next((f for f in doc.get("files", []) if f["id"] == file_id), None)
    if meta is None:
        raise NotFound()
    return staff, doc, meta


def _audit_look(request: Request, staff: Any, doc: Any, meta: Any, how: str) -> None:
    """Who looked at whose document, when, and how (shown in the page, or downloaded)."""
    services(request).audit.event(
        "staff.piece_viewed",
        staff_id=staff["id"],
        enrolment_id=doc["id"],
        document=meta["document_id"],
        file=meta["id"],
        how=how,
        ip=client_ip(request),
    )


async def piece_view(request: Request) -> Response:
    """A piece shown in the page: an image as its re-encoded copy, a PDF as pictures of its
    pages drawn on the server (no PDF viewer runs the candidate's file)."""
    staff, doc, meta = await _visible_file(request)
    _audit_look(request, staff, doc, meta, "vu")
    pages = 0
    if meta["media_type"] == "application/pdf":
        enrolment = services(request).enrolment
        count = await enrolment.on_local_copy(doc["account_id"], meta, MISSING, render.page_count)
        pages = min(count, render.MAX_PAGES_SHOWN)
    context = {
        "staff": staff,
        "doc": doc,
        "meta": meta,
        "name": listed_name(doc),
        "pages": range(pages),
    }
    return await render_page(request, "staff/piece.html", context)


async def piece_page(request: Request) -> Response:
    """One page of a PDF piece, as a PNG image (the page view above shows them)."""
    _staff, doc, meta = await _visible_file(request)
    if meta["media_type"] != "application/pdf":
        raise NotFound()
    index = int(request.path_params["page"])
    png = await services(request).enrolment.on_local_copy(
        doc["account_id"], meta, MISSING, lambda path: render.page_png(path, index)
    )
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, no-store"})


async def piece_file(request: Request) -> Response:
    """The original file: images inline (re-encoded copies), PDFs as a download; audited."""
    staff, doc, meta = await _visible_file(request)
    reader = await services(request).enrolment.open_file(doc["account_id"], meta, MISSING)
    _audit_look(request, staff, doc, meta, "téléchargé")
    inline = meta["media_type"] in ("image/jpeg", "image/png")
    return stored_file_response(reader, meta, inline=inline)


def _back(request: Request, dossier_id: str, info: str) -> RedirectResponse:
    path = request.app.url_path_for("staff_dossier", dossier_id=dossier_id)
    return RedirectResponse(f"{path}?info={info}", status_code=303)


async def act(request: Request) -> Response:
    """A state change chosen from the dossier page's buttons."""
    staff, _notice, doc = await _visible_dossier(request)
    values = await form_values(request)
    action = values.get("action", "")
    review = services(request).review
    calls = {
        Action.START.value: lambda: review.start(staff["id"], doc["id"]),
        Action.REQUEST_CORRECTION.value: lambda: review.request_correction(staff["id"], doc["id"]),
        Action.ACCEPT.value: lambda: review.accept(staff["id"], doc["id"]),
        Action.RESUME.value: lambda: review.resume(staff["id"], doc["id"]),
        Action.DECLARE_INELIGIBLE.value: lambda: review.declare_ineligible(
            staff["id"], doc["id"], values.get("reason", "")
        ),
    }
    if action not in calls:
        raise BadRequest("Action inconnue : revenez au dossier et choisissez un des boutons proposés.")
    try:
        await calls[action]()
    except AppError as exc:
        return await _refused(request, exc)
    return _back(request, doc["id"], action)


async def decide(request: Request) -> Response:
    staff, _notice, doc = await _visible_dossier(request)
    values = await form_values(request)
    try:
        await services(request).review.decide(
            staff["id"],
            doc["id"],
            request.path_params["document_id"],
            values.get("decision", ""),
            reason_id=values.get("reason") or None,
            comment=values.get("comment", ""),
        )
    except AppError as exc:
        return await _refused(request, exc)
    return _back(request, doc["id"], "decision")


async def note(request: Request) -> Response:
    staff, _notice, doc = await _visible_dossier(request)
    values = await form_values(request)
    try:
        await services(request).review.add_note(staff["id"], doc["id"], values.get("text", ""))
    except AppError as exc:
        return await _refused(request, exc)
    return _back(request, doc["id"], "note")


async def _refused(request: Request, exc: AppError) -> Response:
    """The dossier page again, with why the action was refused at the top (nothing changed)."""
    if exc.status >= 500:
        raise exc
    response = await dossier(request)
    html = bytes(response.body).decode()
    alert = f'<div class="alert alert--error" role="alert"><p>{_escape(exc.message)}</p></div>'
    html = html.replace('<div id="probleme"></div>', alert, 1)
    return Response(
        html, status_code=exc.status, media_type="text/html", headers={"Cache-Control": "no-store"}
    )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


BULK = {
    "start": "Commencer la vérification",
    "conforme": "Déclarer toutes les pièces conformes",
    "remind": "Relancer les candidats (ce qui leur reste à faire)",
}


async def bulk(request: Request) -> Response:
    """An action on a selection from the list: each dossier is checked and recorded on its own;
    the page says, for each, whether it was done or why not."""
    staff = await auth.require_staff(request)
    svc = services(request)
    notice = svc.notice()
    fields = await form_lists(request)
    action = (fields.get("action") or [""])[-1]
    if action not in BULK:
        raise BadRequest("Action inconnue : revenez à la liste et choisissez une action proposée.")
    results = []
    for dossier_id in dict.fromkeys(fields.get("dossiers", [])):  # once each, in the page's order
        try:
            doc = auth.ensure_visible(staff, notice, await svc.review.get(dossier_id))
        except NotFound:
            results.append((dossier_id, dossier_id, False, "dossier introuvable"))
            continue
        try:
            await _bulk_one(svc, staff, notice, doc, action)
        except AppError as exc:
            results.append((doc["id"], listed_name(doc), False, exc.message))
        else:
            results.append((doc["id"], listed_name(doc), True, "fait"))
    context = {"staff": staff, "action": BULK[action], "results": results}
    return await render_page(request, "staff/bulk.html", context)


async def _bulk_one(svc: Any, staff: Any, notice: Any, doc: Any, action: str) -> None:
    if action == "start":
        await svc.review.start(staff["id"], doc["id"])
        return
    if action == "remind":
        await svc.review.remind(staff["id"], doc["id"])
        return
    pieces = review_rules.pieces(doc, notice)
    empty = [
        p.document.name
        for p in pieces
        if not p.files and p.status is not review_rules.PieceStatus.NON_CONCERNE
    ]
    if empty:
        raise BadRequest(
            ("Pièce sans fichier : " if len(empty) == 1 else "Pièces sans fichier : ") + " ; ".join(empty)
        )
    for piece in pieces:
        if piece.status is not review_rules.PieceStatus.NON_CONCERNE:
            await svc.review.decide(staff["id"], doc["id"], piece.document.id, review_rules.CONFORME)
