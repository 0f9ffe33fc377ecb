"""The candidate's space: « M'inscrire », « Mes documents », « Mes justificatifs ».

Thin handlers: parse, call EnrolmentService (which runs the rules of enrolment.py inside the
store's atomic update), render or redirect. Every refusal is a French sentence on the page the
candidate was on, with what they typed kept.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from formservice.enrolment import rules
from formservice.enrolment.deadlines import (
    DeadlineError,
    Window,
    documents_window,
    ensure_registration_open,
    registration_window,
)
from formservice.enrolment.service import EnrolmentService
from formservice.errors import NotFound
from formservice.notice import Notice
from formservice.uploads.inspect import UploadLimits, UploadRejected, inspect_and_normalise
from formservice.uploads.stream import receive_upload
from formservice.web.forms import client_ip, form_values
from formservice.web.pdf import html_to_pdf
from formservice.web.rendering import page_context, render
from formservice.web.security import streams_csrf, verify_csrf
from formservice.web.sessions import require_account

INFO = {
    "enregistree": "Votre inscription est enregistrée. Un courriel de confirmation vous a été envoyé.",
    "modifiee": "Vos modifications sont enregistrées. Un courriel récapitulatif vous a été envoyé.",
    "inchangee": "Aucune modification : votre inscription était déjà à jour.",
    "ajoute": "Le fichier a été ajouté.",
    "supprime": "Le fichier a été supprimé.",
    "complet": (
        "C'est fait : vous avez fourni toutes vos pièces. L'accusé de réception vous a été envoyé par "
        "courriel et reste disponible dans « Mes documents »."
    ),
    "adresse": "Votre nouvelle adresse a été transmise au pôle. Une copie vous a été envoyée par courriel.",
}
PRINTABLE = {
    "recapitulatif": "Récapitulatif d'inscription",
    "confirmation": "Confirmation d'inscription",
    "liste-pieces": "Liste des pièces justificatives",
    "accuse": "Accusé de réception des pièces justificatives",
}
REFUSALS = (rules.EnrolmentError, DeadlineError)


def service(request: Request) -> EnrolmentService:
    svc = request.app.state.services
    found = svc.extras.get("enrolment")
    if found is None:

        async def send(to: str, subject: str, template: str, context: dict[str, Any]) -> None:
            notice: Notice = context["notice"]
            extra = {
                "space_link": svc.link("my_documents"),
                "document_names": {d.id: d.name for d in notice.documents},
            }
            await svc.mail.send_template(to, subject, template, {**extra, **context})

        found = EnrolmentService(svc.store, svc.settings.data_dir / "uploads", send)
        svc.extras["enrolment"] = found
    return found


async def space_context(request: Request) -> tuple[dict[str, Any], Notice, Any, dict[str, Any]]:
    """The account, the notice, now, the current enrolment and what every page shows."""
    account = await require_account(request)
    svc = request.app.state.services
    notice = svc.notice()
    now = svc.clock.now()
    enrolment = await service(request).current(account["id"], notice)
    data = (enrolment or {}).get("data", {})
    context = {
        "enrolment": enrolment,
        "pole": rules.pole_of(notice, data),
        "labels": rules.LABELS,
        "statuses": rules.STATUSES,
        "required": rules.required_documents(notice, data) if data else [],
        "writable": registration_window(notice, now) is Window.OPEN,
        "documents_writable": documents_window(notice, now) is Window.OPEN,
        "info": INFO.get(request.query_params.get("info", "")),
        "problem": None,
    }
    return account, notice, now, context


def _audit(request: Request, event: str, account: dict[str, Any], **fields: Any) -> None:
    """Enrolment events in the audit log (pseudonymous, no personal data): who did what, when."""
    request.app.state.services.audit.event(event, account_id=account["id"], ip=client_ip(request), **fields)


def _redirect(request: Request, name: str, info: str, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(f"{request.app.url_path_for(name)}?info={info}{anchor}", status_code=303)


# -- « M'inscrire » ------------------------------------------------------------------------------


async def enrol(request: Request) -> Response:
    account, notice, now, context = await space_context(request)
    enrolment = context["enrolment"]
    errors: dict[str, str] = {}
    status = 200
    prefilled = False
    if enrolment and enrolment.get("version"):
        form: Mapping[str, Any] = enrolment["data"]
        version = enrolment["version"]
    else:
        previous = await service(request).previous(account["id"], notice)
        form = rules.starting_point(previous)
        prefilled = bool(form)
        version = 0

    if request.method == "POST":
        raw = await form_values(request)
        result = rules.read_form(raw, notice)
        form, errors = result.data, dict(result.errors)
        try:
            expected = int(raw.get("version", "0"))
        except ValueError:
            expected = -1
        version = expected
        if result.ok:
            try:
                outcome = await service(request).save(account, result.data, expected, notice, now)
            except rules.VersionConflict as exc:
                # Nothing is overwritten and nothing typed is lost: the form keeps the candidate's
                # input, now based on the latest version, and says which fields differ from it.
                fresh = await service(request).current(account["id"], notice) or {}
                differing = [
                    label for label, _, _ in rules.changes(fresh.get("data", {}), result.data, notice)
                ]
                context["problem"] = exc.message + (
                    " Champs différents de la version enregistrée : " + ", ".join(differing) + "."
                    if differing
                    else ""
                )
                context["enrolment"] = fresh or None
                version = fresh.get("version", 0)
                status = 409
            except REFUSALS as exc:
                context["problem"] = exc.message
                status = exc.status
            else:
                _audit(request, "enrolment.saved", account, version=outcome.enrolment["version"])
                info = "enregistree" if outcome.first else ("modifiee" if outcome.changes else "inchangee")
                return _redirect(request, "enrol", info)
        else:
            status = 400
    context.update(
        form=form,
        errors=errors,
        version=version,
        prefilled=prefilled and request.method != "POST",
        closed_reason="" if context["writable"] else _window_message(notice, now, context["pole"]),
    )
    final = context["enrolment"] and context["enrolment"].get("status") == rules.STATUS_COMPLETE
    if final and context["writable"]:
        context.update(
            writable=False,
            closed_reason=(
                "vous avez validé « J'ai fourni toutes mes pièces », votre inscription est définitive. "
                "Pour un changement, contactez le pôle qui gère votre examen."
            ),
        )
    return await render(request, "enrolment/enrol.html", context, status=status)


def _window_message(notice: Notice, now: Any, pole: Any) -> str:
    try:
        ensure_registration_open(notice, now, pole)
    except DeadlineError as exc:
        return exc.message
    return ""


# -- « Mes documents » ---------------------------------------------------------------------------


async def my_documents(request: Request) -> Response:
    _account, _notice, _now, context = await space_context(request)
    return await render(request, "enrolment/documents.html", context)


async def _printable_html(request: Request, kind: str, *, is_pdf: bool) -> tuple[str, str]:
    account, notice, now, context = await space_context(request)
    enrolment = context["enrolment"]
    if kind not in PRINTABLE or not enrolment or not enrolment.get("version"):
        raise NotFound()
    if kind == "accuse" and enrolment.get("status") != rules.STATUS_COMPLETE:
        raise NotFound()
    data = enrolment["data"]
    found = notice.speciality(data.get("speciality", ""))
    if found is None:  # the catalogue changed under the enrolment
        raise NotFound(
            "La spécialité de votre inscription n'existe plus dans la note : contactez votre pôle."
        )
    exam, speciality = found
    rows = [(rules.LABELS[name], rules.display_value(name, data.get(name), notice)) for name in rules.LABELS]
    values = await page_context(request)
    values.update(context)
    values.update(
        kind=kind,
        title=PRINTABLE[kind],
        data=data,
        rows=[r for r in rows if r[1]],
        exam=exam,
        speciality=speciality,
        birth_date=date.fromisoformat(data["birth_date"]),
        generated_at=now,
        account=account,
        is_pdf=is_pdf,
        document_names={d.id: d.name for d in notice.documents},
    )
    html = request.app.state.services.env.get_template("documents/printable.html").render(values)
    return html, f"{kind}-{enrolment['id']}-v{enrolment['version']}.pdf"


async def printable(request: Request) -> Response:
    html, _name = await _printable_html(request, request.path_params["kind"], is_pdf=False)
    return HTMLResponse(html)


async def printable_pdf(request: Request) -> Response:
    html, name = await _printable_html(request, request.path_params["kind"], is_pdf=True)
    pdf = await service(request).run_cpu_bound(functools.partial(html_to_pdf, html))
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# -- « Mes justificatifs » -----------------------------------------------------------------------


async def _uploads_page(
    request: Request,
    context: dict[str, Any],
    notice: Notice,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
) -> Response:
    enrolment = context["enrolment"]
    context.update(
        missing=rules.missing_documents(notice, enrolment) if enrolment and enrolment.get("version") else [],
        upload_errors=errors or {},
    )
    return await render(request, "enrolment/uploads.html", context, status=status)


async def my_uploads(request: Request) -> Response:
    _account, notice, _now, context = await space_context(request)
    return await _uploads_page(request, context, notice)


def _limits(notice: Notice) -> UploadLimits:
    return UploadLimits(max_file_bytes=notice.uploads.max_file_mb * 1024 * 1024)


@streams_csrf
async def upload_add(request: Request) -> Response:
    """« Ajouter »: the body is streamed to a temporary file under the data directory, refused
    (413) as soon as it passes the limit; the CSRF token and the rules are checked before the
    first byte of the file is written; the content is then inspected and re-encoded."""
    account, notice, now, context = await space_context(request)
    document_id = request.path_params["document_id"]
    svc = service(request)
    enrolment = context["enrolment"]
    tmp_dir = request.app.state.services.settings.data_dir / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)

    def before_file(fields: Mapping[str, str]) -> None:
        verify_csrf(request, fields.get("csrf_token"))
        if enrolment is None:
            raise rules.EnrolmentError("Enregistrez d'abord votre inscription dans « M'inscrire ».")
        rules.check_can_add(enrolment, document_id, 0, notice, now)

    limits = _limits(notice)
    try:
        received = await receive_upload(request, tmp_dir, limits.max_file_bytes, before_file=before_file)
        with received:
            dest = svc.files_dir / account["id"]
            dest.mkdir(parents=True, exist_ok=True)
            stored = await svc.run_cpu_bound(
                functools.partial(
                    inspect_and_normalise,
                    received.path,
                    received.filename,
                    dest,
                    limits,
                    move=True,
                    sha256=received.sha256,
                )
            )
        await svc.add_file(
            account,
            document_id,
            {
                "stored_name": stored.stored_name,
                "display_name": stored.display_name,
                "size": stored.size,
                "sha256": stored.sha256,
                "media_type": stored.media_type,
            },
            notice,
            request.app.state.services.clock.now(),
        )
    except UploadRejected as exc:
        _audit(request, "enrolment.upload_refused", account, document=document_id, reason=exc.reason)
        context["enrolment"] = await svc.current(account["id"], notice)
        return await _uploads_page(
            request, context, notice, status=exc.status, errors={document_id: exc.message}
        )
    except REFUSALS as exc:
        context["enrolment"] = await svc.current(account["id"], notice)
        return await _uploads_page(
            request, context, notice, status=exc.status, errors={document_id: exc.message}
        )
    _audit(request, "enrolment.file_added", account, document=document_id, size=stored.size)
    return _redirect(request, "my_uploads", "ajoute", f"#piece-{document_id}")


async def upload_remove(request: Request) -> Response:
    account, notice, now, context = await space_context(request)
    try:
        await service(request).remove_file(account, request.path_params["file_id"], notice, now)
    except REFUSALS as exc:
        context["problem"] = exc.message
        return await _uploads_page(request, context, notice, status=exc.status)
    _audit(request, "enrolment.file_removed", account)
    return _redirect(request, "my_uploads", "supprime")


async def upload_file(request: Request) -> Response:
    """A candidate's own file, as an attachment; anybody else's is 404, whatever the id."""
    account = await require_account(request)
    found = await service(request).find_file(account["id"], request.path_params["file_id"])
    if found is None:
        raise NotFound()
    meta, path = found
    if not Path(path).is_file():
        raise NotFound("Ce fichier n'est plus disponible : déposez-le de nouveau ou contactez votre pôle.")
    return FileResponse(
        path,
        media_type=meta["media_type"],
        filename=meta["display_name"],
        content_disposition_type="attachment",
        headers={
            "Content-Security-Policy": "sandbox; default-src 'none'",
            "Cache-Control": "private, no-store",
        },
    )


async def uploads_complete(request: Request) -> Response:
    account, notice, now, context = await space_context(request)
    try:
        await service(request).complete(account, notice, now)
    except REFUSALS as exc:
        context["problem"] = exc.message
        return await _uploads_page(request, context, notice, status=exc.status)
    _audit(request, "enrolment.completed", account)
    return _redirect(request, "my_uploads", "complet")


# -- « Signaler un changement d'adresse » -------------------------------------------------------


async def address_change(request: Request) -> Response:
    account, notice, now, context = await space_context(request)
    errors: dict[str, str] = {}
    form: Mapping[str, Any] = {}
    status = 200
    if request.method == "POST":
        result = rules.read_address(await form_values(request))
        form, errors = result.data, result.errors
        if result.ok:
            try:
                await service(request).request_address_change(account, result.data, notice, now)
            except REFUSALS as exc:
                context["problem"] = exc.message
                status = exc.status
            else:
                _audit(request, "enrolment.address_change", account)
                return _redirect(request, "address_change", "adresse")
        else:
            status = 400
    context.update(form=form, errors=errors)
    return await render(request, "enrolment/address.html", context, status=status)
