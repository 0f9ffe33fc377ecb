"""« Mes justificatifs »: the list of pieces, « Ajouter », « Supprimer », the candidate's own file,
« J'ai fourni toutes mes pièces », and, when the office asks for corrections, the decisions on the
pieces and « J'ai effectué les corrections demandées ». The upload itself (a first file or a
replacement) is a use case of EnrolmentService; the confirmation one of ReviewService."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from formservice.enrolment import rules
from formservice.errors import AppError, NotFound
from formservice.uploads import UploadRejected
from formservice.web.auth import require_account
from formservice.web.candidate.enrolment import Space, audit, redirect, space_of
from formservice.web.downloads import stored_file_response
from formservice.web.middleware.csrf import streams_csrf, verify_csrf
from formservice.web.rendering import render
from formservice.web.services import services

MISSING = "Ce fichier n'est plus disponible : déposez-le de nouveau ou contactez votre pôle."


async def _page(
    request: Request, space: Space, *, status: int = 200, errors: dict[str, str] | None = None
) -> Response:
    context: dict[str, Any] = space.context
    enrolment, dossier = context["enrolment"], context["dossier"]
    context.update(
        missing=rules.missing_documents(space.notice, enrolment)
        if enrolment and enrolment.get("version") and not (dossier and dossier.closed)
        else [],
        upload_errors=errors or {},
    )
    return await render(request, "candidate/enrolment/uploads.html", context, status=status)


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
        space.context["enrolment"] = await svc.enrolment.current(space.account["id"], space.notice)
        return await _page(request, space, status=exc.status, errors={document_id: exc.message})
    audit(
        request,
        "enrolment.file_added",
        space.account,
        document=document_id,
        size=upload.file["size"],
        replacement=upload.replacement,
    )
    return redirect(request, "my_uploads", "ajoute", f"#piece-{document_id}")


async def upload_remove(request: Request) -> Response:
    space = await space_of(request)
    try:
        await services(request).enrolment.remove_file(
            space.account, space.enrolment, request.path_params["file_id"], space.notice, space.now
        )
    except AppError as exc:
        space.context["problem"] = exc.message
        return await _page(request, space, status=exc.status)
    audit(request, "enrolment.file_removed", space.account)
    return redirect(request, "my_uploads", "supprime")


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
    space = await space_of(request)
    try:
        await services(request).enrolment.complete(space.account, space.enrolment, space.notice, space.now)
    except AppError as exc:
        space.context["problem"] = exc.message
        return await _page(request, space, status=exc.status)
    audit(request, "enrolment.completed", space.account)
    return redirect(request, "my_uploads", "complet")


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
