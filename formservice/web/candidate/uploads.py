"""« Mes justificatifs »: the list of pieces, « Ajouter », « Supprimer » (after a confirmation
page), the candidate's own file, « J'ai fourni toutes mes pièces » (after a confirmation page
that lists the files and says what can still change), « Modifier mes pièces », and, when the
office asks for corrections, « J'ai effectué les corrections demandées ». The upload itself (a
first file or a replacement) is a use case of EnrolmentService; the confirmation one of
ReviewService.

Every write answers with a redirect (POST/redirect/GET): a reload never sends a file again. The
message of an upload or a removal is shown in the piece it is about, which the page scrolls to
and focuses (``#message-<piece>``); a refused upload's message rides in the redirect's query,
signed (``Purpose.UPLOAD_MESSAGE``), so that nobody can make the page say something else.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from formservice.accounts.tokens import Purpose, TokenError
from formservice.enrolment import rules
from formservice.enrolment.pieces import completion_refusal
from formservice.enrolment.service import NO_ENROLMENT
from formservice.errors import AppError, NotFound
from formservice.uploads import UploadRejected
from formservice.web.auth import require_account
from formservice.web.candidate.enrolment import INFO, Space, audit, redirect, space_of
from formservice.web.downloads import stored_file_response
from formservice.web.middleware.csrf import streams_csrf, verify_csrf
from formservice.web.rendering import render
from formservice.web.services import services

MISSING = "Ce fichier n'est plus disponible : déposez-le de nouveau ou contactez votre pôle."

MESSAGE_MAX_AGE = timedelta(minutes=30)  # a refusal shown again on a reload, not for days
PIECE_INFOS = ("ajoute", "supprime")


def _to_piece(request: Request, document_id: str, **query: str) -> RedirectResponse:
    """Back to « Mes justificatifs », at the piece's message."""
    path = request.app.url_path_for("my_uploads")
    params = urlencode({"piece": document_id, **query})
    return RedirectResponse(f"{path}?{params}#message-{document_id}", status_code=303)


def _piece_message(request: Request, space: Space) -> dict[str, Any] | None:
    """The message of the piece the candidate just acted on: ``{"document_id", "text", "error"}``."""
    document_id = request.query_params.get("piece", "")
    info = request.query_params.get("info", "")
    if info in PIECE_INFOS:
        return {"document_id": document_id, "text": INFO[info], "error": False}
    token = request.query_params.get("refus")
    if not token:
        return None
    try:
        payload = services(request).tokens.signer(Purpose.UPLOAD_MESSAGE).loads(token, MESSAGE_MAX_AGE)
    except TokenError:
        return None
    if payload.get("a") != space.account["id"] or payload.get("d") != document_id:
        return None
    return {"document_id": document_id, "text": str(payload.get("m", "")), "error": True}


def _refused(request: Request, space: Space, document_id: str, message: str) -> RedirectResponse:
    """Back to the piece, with why the file was refused (signed, for this candidate and piece)."""
    signer = services(request).tokens.signer(Purpose.UPLOAD_MESSAGE)
    token = signer.dumps({"a": space.account["id"], "d": document_id, "m": message})
    return _to_piece(request, document_id, refus=token)


async def _page(request: Request, space: Space, *, status: int = 200) -> Response:
    context: dict[str, Any] = space.context
    enrolment, dossier = context["enrolment"], context["dossier"]
    saved = bool(enrolment and enrolment.get("version"))
    message = _piece_message(request, space)
    shown = {d.id for d in context["required"]}
    if message is not None and message["document_id"] not in shown:  # no such piece on the page
        context["problem" if message["error"] else "info"] = message["text"]
        message = None
    elif message is not None:
        context["info"] = None  # said in the piece, where the eye is
    context.update(
        missing=rules.missing_documents(space.notice, enrolment)
        if saved and not (dossier and dossier.closed)
        else [],
        stray=rules.stray_files(space.notice, enrolment) if saved else [],
        piece_message=message,
        reopenable=_reopenable(space),
        document_names={d.id: d.name for d in space.notice.documents},
    )
    return await render(request, "candidate/enrolment/uploads.html", context, status=status)


def _reopenable(space: Space) -> bool:
    """« Modifier mes pièces » is offered: déposé, the office not started, the deposit open."""
    dossier = space.context["dossier"]
    return bool(
        dossier
        and dossier.state == "depose"
        and space.context["documents_writable"]
        and not space.context["edit_refusal"]
    )


async def my_uploads(request: Request) -> Response:
    return await _page(request, await space_of(request))


@streams_csrf
async def upload_add(request: Request) -> Response:
    """« Ajouter »: the body is streamed by the use case, which checks the token first."""
    space = await space_of(request)
    document_id = request.path_params["document_id"]
    svc = services(request)

    def check_token(token: str | None) -> None:
        verify_csrf(request, token, svc.settings.secret_keys, svc.audit)

    try:
        upload = await svc.enrolment.upload(
            space.account,
            space.enrolment,
            document_id,
            request.headers,
            request.stream(),
            check_token,
            space.notice,
        )
    except AppError as exc:
        if isinstance(exc, UploadRejected):
            audit(request, "enrolment.upload_refused", space.account, document=document_id, reason=exc.reason)
        if exc.status >= 500 or exc.status == 403:  # not a refusal of this file: the error page
            raise
        return _refused(request, space, document_id, exc.message)
    audit(
        request,
        "enrolment.file_added",
        space.account,
        document=document_id,
        size=upload.file["size"],
        replacement=upload.replacement,
    )
    return _to_piece(request, document_id, info="ajoute")


def _own_file(space: Space, file_id: str) -> dict[str, Any]:
    for f in space.enrolment["files"] if space.enrolment else []:
        if f["id"] == file_id:
            return dict(f)
    raise NotFound("Ce fichier n'existe pas (il a peut-être déjà été supprimé).")


async def upload_remove(request: Request) -> Response:
    """« Supprimer »: GET asks for confirmation (no JavaScript needed), POST removes."""
    space = await space_of(request)
    meta = _own_file(space, request.path_params["file_id"])
    names = {d.id: d.name for d in space.notice.documents}
    if request.method == "GET":
        space.context.update(file=meta, document_name=names.get(meta["document_id"], ""))
        return await render(request, "candidate/enrolment/remove.html", space.context)
    try:
        await services(request).enrolment.remove_file(
            space.account, space.enrolment, meta["id"], space.notice, space.now
        )
    except AppError as exc:
        if exc.status >= 500:
            raise
        return _refused(request, space, meta["document_id"], exc.message)
    audit(request, "enrolment.file_removed", space.account)
    return _to_piece(request, meta["document_id"], info="supprime")


async def upload_file(request: Request) -> Response:
    """A candidate's own file, as an attachment; anybody else's is 404, whatever the id."""
    account = await require_account(request)
    enrolment = services(request).enrolment
    meta = await enrolment.find_file(account["id"], request.path_params["file_id"])
    if meta is None:
        raise NotFound()
    reader = await enrolment.open_file(account["id"], meta, MISSING)
    return stored_file_response(reader, meta, inline=False)


async def uploads_complete(request: Request) -> Response:
    """« J'ai fourni toutes mes pièces »: GET shows what will be sent and what can still change
    afterwards; POST (« Je confirme ») validates."""
    space = await space_of(request)
    if request.method == "GET":
        refusal = (
            completion_refusal(space.enrolment, space.notice, space.now) if space.enrolment else NO_ENROLMENT
        )
        space.context.update(refusal=refusal)
        return await render(request, "candidate/enrolment/confirm_complete.html", space.context)
    try:
        await services(request).enrolment.complete(space.account, space.enrolment, space.notice, space.now)
    except AppError as exc:
        space.context["problem"] = exc.message
        return await _page(request, space, status=exc.status)
    audit(request, "enrolment.completed", space.account)
    return redirect(request, "my_uploads", "complet")


async def uploads_reopen(request: Request) -> Response:
    """« Modifier mes pièces »: déposé → brouillon, while the office has not started."""
    space = await space_of(request)
    try:
        await services(request).enrolment.reopen(space.enrolment)
    except AppError as exc:
        space.context["problem"] = exc.message
        return await _page(request, space, status=exc.status)
    audit(request, "enrolment.reopened", space.account)
    return redirect(request, "my_uploads", "rouvert")


async def corrections_done(request: Request) -> Response:
    """« J'ai effectué les corrections demandées »: the dossier goes back to the office (which is
    mailed the replaced pieces); the use case checks the state, the deadline and the pieces."""
    space = await space_of(request)
    if space.enrolment is None or not space.enrolment.get("version"):
        raise NotFound()
    try:
        await services(request).review.confirm_corrections(space.account["id"], space.enrolment["id"])
    except AppError as exc:
        space.context["problem"] = exc.message
        return await _page(request, space, status=exc.status)
    return redirect(request, "my_uploads", "corrections")
