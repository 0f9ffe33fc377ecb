"""/gestion/connexion (e-mail and password, then the code), /gestion/deconnexion, and the
invitation page (password, TOTP enrolment, recovery codes shown once)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from formservice.errors import AppError
from formservice.staff import totp
from formservice.staff.service import Invitation, LoginStatus, SecondStep, TotpSetup
from formservice.web.forms import client_ip, form_values, safe_next
from formservice.web.rendering import render, url_path
from formservice.web.services import services
from formservice.web.staff import auth

PRIVATE = {"Referrer-Policy": "no-referrer"}
BAD_LOGIN = "Adresse électronique ou mot de passe incorrect."


def _next(request: Request) -> str:
    return safe_next(request.query_params.get("suite"), url_path(request.app.router, "staff_home"))


async def login(request: Request) -> Response:
    next_path = _next(request)
    if request.method != "POST":
        if await auth.current_staff(request) is not None:
            return RedirectResponse(next_path, status_code=303)
        return await render(request, "staff/login.html", {"values": {}, "errors": {}, "next": next_path})
    values = await form_values(request)
    result = await services(request).staff.authenticate(
        values.get("email", ""), values.get("password", ""), client_ip(request)
    )
    if result.status is not LoginStatus.OK or result.ticket is None:
        errors = {"form": BAD_LOGIN if result.status is LoginStatus.BAD else "Ce compte a été désactivé."}
        context = {"values": {"email": values.get("email", "")}, "errors": errors, "next": next_path}
        return await render(request, "staff/login.html", context, status=400)
    return await render(
        request, "staff/code.html", {"ticket": result.ticket, "errors": {}, "next": next_path}
    )


async def second_step(request: Request) -> Response:
    next_path = _next(request)
    values = await form_values(request)
    ticket = values.get("ticket", "")
    result = await services(request).staff.second_factor(ticket, values.get("code", ""), client_ip(request))
    if result.status is SecondStep.OK and result.staff is not None:
        await auth.open_session(request, result.staff)
        return RedirectResponse(next_path, status_code=303)
    if result.status is SecondStep.BAD:
        errors = {
            "code": "Ce code n'est pas valable (ou a déjà servi) : saisissez le code affiché maintenant."
        }
        context = {"ticket": ticket, "errors": errors, "next": next_path}
        return await render(request, "staff/code.html", context, status=400)
    errors = {"form": "La connexion a expiré : saisissez de nouveau votre adresse et votre mot de passe."}
    return await render(
        request, "staff/login.html", {"values": {}, "errors": errors, "next": next_path}, status=400
    )


async def logout(request: Request) -> Response:
    await auth.close_session(request)
    return RedirectResponse(f"{url_path(request.app.router, 'staff_login')}", status_code=303)


def _setup_again(email: str, secret: str, issuer: str) -> TotpSetup:
    """The same secret shown again after a refused first code (the application keeps it)."""
    uri = totp.provisioning_uri(secret, email, issuer)
    return TotpSetup(
        email=email, secret=secret, secret_text=totp.grouped(secret), uri=uri, qr_svg=totp.qr_svg(uri)
    )


async def invitation(request: Request) -> Response:
    svc = services(request)
    token = request.path_params["token"]
    outcome, staff = await svc.staff.check_invitation(token)
    if outcome is not Invitation.READY or staff is None:
        status = 410 if outcome is Invitation.EXPIRED else 400
        return await render(
            request, "staff/invitation.html", {"outcome": outcome.value}, status=status, headers=PRIVATE
        )
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = await form_values(request)
        secret = values.get("secret", "")
        if values.get("password", "") != values.get("password_confirm", ""):
            errors["password_confirm"] = "Les deux mots de passe ne sont pas identiques."
        else:
            try:
                codes = await svc.staff.finish_enrolment(
                    token, values.get("password", ""), secret, values.get("code", "")
                )
            except AppError as exc:
                errors["form"] = exc.message
            else:
                return await render(request, "staff/recovery.html", {"codes": codes}, headers=PRIVATE)
        issuer = totp.issuer_name(svc.notice().academie.name)
        try:
            setup = _setup_again(staff["email"], secret, issuer)
        except Exception:  # a tampered secret: start the enrolment again
            setup = await svc.staff.begin_enrolment(token)
    else:
        setup = await svc.staff.begin_enrolment(token)
    context = {"outcome": "ready", "setup": setup, "errors": errors, "token": token, "staff": staff}
    return await render(
        request, "staff/invitation.html", context, status=400 if errors else 200, headers=PRIVATE
    )
