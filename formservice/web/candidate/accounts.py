"""/compte/...: signup, activation, login, logout, password reset and change.

Thin: parse the form, call ``services(request).accounts`` (``accounts/service.py``), render or redirect.
Forms re-render with the user's input (never the passwords) and a message next to each field.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from formservice.accounts.passwords import is_common
from formservice.accounts.rules import EmailInvalid, normalize_email, password_problem
from formservice.accounts.service import Activation, Reset
from formservice.enrolment.deadlines import Phase, registration_window
from formservice.web import auth
from formservice.web.forms import client_ip, form_values, safe_next
from formservice.web.rendering import render, url_path
from formservice.web.services import services

NO_REFERRER = {"Referrer-Policy": "no-referrer"}
INFO = {
    "deconnexion": "Vous êtes déconnecté.",
    "mot-de-passe": "Votre mot de passe a été modifié. Vous pouvez vous connecter avec le nouveau.",
    "session": "Votre session a expiré : connectez-vous à nouveau.",
}


def _email_error(values: dict[str, str], field: str, errors: dict[str, str]) -> str | None:
    try:
        return normalize_email(values.get(field, ""))
    except EmailInvalid as exc:
        errors[field] = str(exc)
        return None


def _new_password_errors(values: dict[str, str], email: str | None, errors: dict[str, str]) -> str:
    password = values.get("password", "")
    problem = password_problem(password, email, is_common)
    if problem:
        errors["password"] = problem
    elif values.get("password_confirm", "") != password:
        errors["password_confirm"] = "Les deux mots de passe ne sont pas identiques."
    return password


# -- signup -------------------------------------------------------------------------------------


async def signup(request: Request) -> Response:
    svc = services(request)
    if registration_window(svc.notice(), svc.clock.now()) is not Phase.OPEN:
        return await render(request, "candidate/accounts/signup_closed.html")
    if request.method != "POST":
        return await render(request, "candidate/accounts/signup.html", {"values": {}, "errors": {}})
    values = await form_values(request)
    errors: dict[str, str] = {}
    email = _email_error(values, "email", errors)
    confirm = values.get("email_confirm", "")
    if email and "email_confirm" not in errors and confirm != values.get("email"):  # same text, same address
        try:
            if normalize_email(confirm) != email:
                errors["email_confirm"] = "Les deux adresses ne sont pas identiques."
        except EmailInvalid:
            errors["email_confirm"] = "Les deux adresses ne sont pas identiques."
    password = _new_password_errors(values, email, errors)
    if values.get("accept") != "oui":
        errors["accept"] = "Cochez cette case pour créer votre compte."
    if errors or email is None:
        kept = {k: values.get(k, "") for k in ("email", "email_confirm", "accept")}
        return await render(
            request, "candidate/accounts/signup.html", {"values": kept, "errors": errors}, status=400
        )
    await svc.accounts.signup(email, password, client_ip(request))
    return await render(request, "candidate/accounts/signup_sent.html", {"email": email})


# -- activation -----------------------------------------------------------------------------------

ACTIVATION_STATUS = {
    Activation.READY: 200,
    Activation.ACTIVATED: 200,
    Activation.ALREADY_ACTIVE: 200,
    Activation.EXPIRED: 410,
    Activation.INVALID: 400,
}


async def activate(request: Request) -> Response:
    """GET shows the « Activer mon compte » button; only the POST activates (mail scanners GET)."""
    svc = services(request)
    token = request.path_params["token"]
    if request.method != "POST":
        outcome = await svc.accounts.check_activation(token)
    else:
        outcome = await svc.accounts.activate(token, client_ip(request))
    return await render(
        request,
        "candidate/accounts/activate.html",
        {"outcome": outcome.value, "token": token},
        status=ACTIVATION_STATUS[outcome],
        headers=NO_REFERRER,
    )


async def _email_form(
    request: Request, template: str, sent_template: str, action: Callable[[str, str | None], Awaitable[None]]
) -> Response:
    """A form asking only for an e-mail address (resend the activation, forgotten password): the
    same answer whether or not the address has an account."""
    if request.method != "POST":
        return await render(request, template, {"values": {}, "errors": {}})
    values = await form_values(request)
    errors: dict[str, str] = {}
    email = _email_error(values, "email", errors)
    if email is None:
        return await render(
            request, template, {"values": {"email": values.get("email", "")}, "errors": errors}, status=400
        )
    await action(email, client_ip(request))
    return await render(request, sent_template, {"email": email})


async def resend_activation(request: Request) -> Response:
    accounts = services(request).accounts
    return await _email_form(
        request,
        "candidate/accounts/resend.html",
        "candidate/accounts/resend_sent.html",
        accounts.resend_activation,
    )


# -- login and logout -----------------------------------------------------------------------------


async def login(request: Request) -> Response:
    next_path = safe_next(request.query_params.get("suite"), url_path(request.app.router, "space"))
    if request.method != "POST":
        if await auth.current_account(request) is not None:
            return RedirectResponse(next_path, status_code=303)
        info = INFO.get(request.query_params.get("info", ""))
        return await render(
            request,
            "candidate/accounts/login.html",
            {"values": {}, "errors": {}, "info": info, "next": next_path, "pending": False},
        )
    values = await form_values(request)
    errors: dict[str, str] = {}
    context: dict[str, Any] = {
        "values": {"email": values.get("email", "")},
        "errors": errors,
        "next": next_path,
    }
    email = _email_error(values, "email", errors)
    if email is None:
        return await render(request, "candidate/accounts/login.html", context, status=400)
    result = await services(request).accounts.authenticate(
        email, values.get("password", ""), client_ip(request)
    )
    if result.status == "bad":
        errors["form"] = "Adresse électronique ou mot de passe incorrect."
        return await render(request, "candidate/accounts/login.html", context, status=400)
    if result.status == "pending":
        return await render(request, "candidate/accounts/login.html", context | {"pending": True}, status=403)
    assert result.account is not None
    await auth.login(request, result.account["id"])
    return RedirectResponse(next_path, status_code=303)


async def logout(request: Request) -> Response:
    account_id = await auth.logout(request)
    if account_id:
        services(request).audit.event("logout", account_id=account_id, ip=client_ip(request))
    return RedirectResponse(f"{url_path(request.app.router, 'login')}?info=deconnexion", status_code=303)


# -- password -------------------------------------------------------------------------------------


async def forgot_password(request: Request) -> Response:
    accounts = services(request).accounts
    return await _email_form(
        request,
        "candidate/accounts/forgot.html",
        "candidate/accounts/forgot_sent.html",
        accounts.request_reset,
    )


RESET_STATUS = {Reset.READY: 200, Reset.DONE: 200, Reset.EXPIRED: 410, Reset.INVALID: 400}


async def reset_password(request: Request) -> Response:
    svc = services(request)
    token = request.path_params["token"]
    outcome, account = await svc.accounts.check_reset(token)
    errors: dict[str, str] = {}
    if outcome is Reset.READY and request.method == "POST":
        assert account is not None
        values = await form_values(request)
        password = _new_password_errors(values, account["email"], errors)
        if not errors:
            outcome = await svc.accounts.reset_password(token, password, client_ip(request))
    status = 400 if errors else RESET_STATUS[outcome]
    return await render(
        request,
        "candidate/accounts/reset.html",
        {"outcome": outcome.value, "token": token, "errors": errors},
        status=status,
        headers=NO_REFERRER,
    )


async def change_password(request: Request) -> Response:
    account = await auth.require_account(request)
    if request.method != "POST":
        return await render(request, "candidate/accounts/change_password.html", {"errors": {}})
    values = await form_values(request)
    errors: dict[str, str] = {}
    password = _new_password_errors(values, account["email"], errors)
    if not values.get("current_password"):
        errors["current_password"] = "Indiquez votre mot de passe actuel."
    if not errors:
        state = await auth.load_session(request)
        keep = state.record["id"] if state.record else None
        ok = await services(request).accounts.change_password(
            account, values["current_password"], password, client_ip(request), keep
        )
        if ok:
            await auth.rotate(request)
            return RedirectResponse(
                f"{url_path(request.app.router, 'space')}?info=mot-de-passe", status_code=303
            )
        errors["current_password"] = "Ce n'est pas votre mot de passe actuel."
    return await render(request, "candidate/accounts/change_password.html", {"errors": errors}, status=400)


async def privacy(request: Request) -> Response:
    return await render(request, "candidate/accounts/privacy.html")
