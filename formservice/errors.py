"""One error hierarchy: every refusal a user can meet is an ``AppError``.

Like itsdangerous' ``BadData`` family, the root carries what a UI needs: a ``title``, a French
``message`` for the user and an HTTP ``status`` (plus ``headers`` such as ``Retry-After``). The
features raise its subclasses (``EnrolmentError``, ``DeadlineError``, ``UploadRejected``,
``EmailInvalid``, the store's ``StoreUnavailable``...); the web layer catches the root once and
renders it (``web/errors.py``). This module is pure: no Starlette, no template.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from formservice.frenchdates import duration_fr


class AppError(Exception):
    status = 400
    title = "Demande invalide"
    message = "La demande n'a pas pu être traitée. Revenez à la page précédente et réessayez."

    def __init__(
        self,
        message: str | None = None,
        *,
        title: str | None = None,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ):
        if message is not None:
            self.message = message
        if title is not None:
            self.title = title
        if status is not None:
            self.status = status
        self.headers = dict(headers or {})
        super().__init__(self.message)


class BadRequest(AppError):
    pass


class Forbidden(AppError):
    status = 403
    title = "Accès refusé"
    message = "Vous n'avez pas accès à cette page."


class CsrfFailed(Forbidden):
    title = "Formulaire expiré"
    message = (
        "Ce formulaire a expiré ou n'a pas été envoyé depuis ce site. Rechargez la page et recommencez ; "
        "si le problème persiste, vérifiez que votre navigateur accepte les cookies de ce site."
    )


class NotFound(AppError):
    status = 404
    title = "Page introuvable"
    message = "Cette page n'existe pas. Vérifiez l'adresse, ou revenez à l'accueil."


class MethodNotAllowed(AppError):
    status = 405
    title = "Action impossible"
    message = "Cette page ne s'utilise pas ainsi. Revenez à la page précédente."


class RequestTimeout(AppError):
    """A body that arrives too slowly: the connection is freed for the others."""

    status = 408
    title = "Envoi trop lent"
    message = (
        "Le formulaire est arrivé trop lentement et n'a pas été traité : vérifiez votre connexion, "
        "puis recommencez."
    )


class Conflict(AppError):
    """A change refused by a rule of the domain (a deadline, a version, a state)."""

    status = 409
    title = "Action impossible"
    message = "Cette action n'est pas possible pour le moment."


class PayloadTooLarge(AppError):
    status = 413
    title = "Envoi trop volumineux"
    message = "Les données envoyées sont trop volumineuses."


class UnsupportedMediaType(AppError):
    status = 415
    title = "Envoi non reconnu"
    message = "Ce formulaire n'a pas été envoyé dans un format accepté. Rechargez la page et recommencez."


class Unprocessable(AppError):
    """Well-formed but refused content (a file that is not what it claims)."""

    status = 422
    title = "Envoi refusé"


class TooManyRequests(AppError):
    status = 429
    title = "Trop de tentatives"

    def __init__(self, retry_after: float, message: str | None = None):
        self.retry_after = max(1, int(retry_after + 0.999))
        wait = (
            duration_fr(timedelta(seconds=self.retry_after))
            if self.retry_after >= 60
            else (f"{self.retry_after} seconde{'s' if self.retry_after > 1 else ''}")
        )
        super().__init__(
            message or f"Trop de tentatives en peu de temps. Réessayez dans {wait}.",
            headers={"Retry-After": str(self.retry_after)},
        )


class InternalError(AppError):
    status = 500
    title = "Erreur du service"
    message = (
        "Une erreur imprévue est survenue ; vos données n'ont pas été modifiées par cette action. "
        "Réessayez dans quelques minutes."
    )


class ServiceUnavailable(AppError):
    status = 503
    title = "Service momentanément indisponible"
    message = "Le service est momentanément indisponible. Réessayez dans quelques minutes."


class NotSaved(ServiceUnavailable):
    """The store could not make a write durable: nothing was acknowledged, nothing half-done."""

    title = "Action non enregistrée"
    message = (
        "Votre action n'a pas été enregistrée : le service n'a pas pu l'écrire de façon sûre. "
        "Rien n'a été modifié ; réessayez dans quelques minutes."
    )


BY_STATUS: dict[int, type[AppError]] = {
    400: BadRequest,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    408: RequestTimeout,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: Unprocessable,
    500: InternalError,
    503: ServiceUnavailable,
}


def for_status(status: int) -> AppError:
    """The error a bare HTTP status stands for (Starlette's 404 and 405, a proxy's 413)."""
    cls = BY_STATUS.get(status)
    return AppError(status=status) if cls is None else cls()
