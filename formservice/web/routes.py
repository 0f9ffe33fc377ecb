"""Every route of the service, by name (templates and mails build links from the names).

URL layout
    ``/``                    the published site (site/), or a French "not published yet" page
    ``/compte/...``          accounts (candidate/accounts.py)
    ``/mentions-legales``, ``/accessibilite``  the legal pages (candidate/legal.py)
    ``/espace``              the candidate's space (candidate/space.py, enrolment.py, uploads.py)
    ``/gestion/...``         the exam office (staff/access.py, staff/dossiers.py)
    ``/_service/static/...`` the service's CSS (no clash with the site's /assets/)
    ``/_service/courriels``  development outbox (development without SMTP only)

Adding routes: append ``Route(path, view, methods=[...], name=...)`` below, before the site's
catch-all ``Mount("/")``. A multipart upload view is decorated with ``csrf.streams_csrf`` and
checks the token itself (see ``middleware/csrf.py``).
"""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from formservice.settings import Settings
from formservice.web.candidate import accounts, dev, enrolment, legal, mydata, space, uploads
from formservice.web.published_site import PublishedSite
from formservice.web.staff import access, dossiers, exports, mails, statistics, team

STATIC_DIR = Path(__file__).parent / "static"
GET_POST = ["GET", "POST"]


def account_routes() -> list[BaseRoute]:
    return [
        Route("/compte/creer", accounts.signup, methods=GET_POST, name="signup"),
        Route("/compte/activer/{token}", accounts.activate, methods=GET_POST, name="activate"),
        Route(
            "/compte/renvoyer-activation",
            accounts.resend_activation,
            methods=GET_POST,
            name="resend_activation",
        ),
        Route("/compte/connexion", accounts.login, methods=GET_POST, name="login"),
        Route("/compte/deconnexion", accounts.logout, methods=["POST"], name="logout"),
        Route(
            "/compte/mot-de-passe-oublie", accounts.forgot_password, methods=GET_POST, name="forgot_password"
        ),
        Route(
            "/compte/reinitialiser/{token}", accounts.reset_password, methods=GET_POST, name="reset_password"
        ),
        Route("/compte/mot-de-passe", accounts.change_password, methods=GET_POST, name="change_password"),
        Route("/compte/donnees-personnelles", accounts.privacy, name="privacy"),
    ]


def legal_routes() -> list[BaseRoute]:
    """The pages a French public service shows in every footer (from notice.yml's ``legal``)."""
    return [
        Route("/mentions-legales", legal.legal_notice, name="legal_notice"),
        Route("/accessibilite", legal.accessibility, name="accessibility"),
    ]


def space_routes() -> list[BaseRoute]:
    return [
        Route("/espace", space.home, name="space"),
        Route("/espace/inscription", enrolment.enrol, methods=GET_POST, name="enrol"),
        Route("/espace/documents", enrolment.my_documents, name="my_documents"),
        Route("/espace/documents/{kind}", enrolment.printable, name="printable"),
        Route("/espace/documents/{kind}/pdf", enrolment.printable_pdf, name="printable_pdf"),
        Route("/espace/justificatifs", uploads.my_uploads, name="my_uploads"),
        Route(
            "/espace/justificatifs/{document_id}/ajouter",
            uploads.upload_add,
            methods=["POST"],
            name="upload_add",
        ),
        Route(
            "/espace/justificatifs/valider",
            uploads.uploads_complete,
            methods=GET_POST,
            name="uploads_complete",
        ),
        Route(
            "/espace/justificatifs/rouvrir", uploads.uploads_reopen, methods=["POST"], name="uploads_reopen"
        ),
        Route(
            "/espace/justificatifs/corrections-effectuees",
            uploads.corrections_done,
            methods=["POST"],
            name="corrections_done",
        ),
        Route("/espace/justificatifs/fichier/{file_id}", uploads.upload_file, name="upload_file"),
        Route(
            "/espace/justificatifs/fichier/{file_id}/supprimer",
            uploads.upload_remove,
            methods=GET_POST,
            name="upload_remove",
        ),
        Route(
            "/espace/changement-adresse", enrolment.address_change, methods=GET_POST, name="address_change"
        ),
        Route("/espace/mes-donnees", mydata.my_data, methods=["GET"], name="my_data"),
        Route("/espace/mes-donnees", mydata.my_data_download, methods=["POST"], name="my_data_download"),
    ]


def staff_routes() -> list[BaseRoute]:
    """The exam office's pages (its own session cookie; a pôle sees its own dossiers only)."""
    return [
        Route("/gestion/connexion", access.login, methods=GET_POST, name="staff_login"),
        Route("/gestion/connexion/code", access.second_step, methods=["POST"], name="staff_second_step"),
        Route("/gestion/deconnexion", access.logout, methods=["POST"], name="staff_logout"),
        Route("/gestion/invitation/{token}", access.invitation, methods=GET_POST, name="staff_invitation"),
        Route("/gestion/", dossiers.home, name="staff_home"),
        Route("/gestion/equipe", team.team, name="staff_team"),
        Route("/gestion/equipe/inviter", team.invite, methods=["POST"], name="staff_team_invite"),
        Route("/gestion/equipe/desactiver", team.disable, methods=["POST"], name="staff_team_disable"),
        Route("/gestion/courriels", mails.mails, name="staff_mails"),
        Route("/gestion/courriels/action", mails.mail_action, methods=["POST"], name="staff_mail_action"),
        Route("/gestion/statistiques", statistics.statistics_page, name="staff_statistics"),
        Route("/gestion/dossiers", dossiers.dossier_list, name="staff_dossiers"),
        Route("/gestion/dossiers/lot", dossiers.bulk, methods=["POST"], name="staff_bulk"),
        Route("/gestion/dossiers/{dossier_id}", dossiers.dossier, name="staff_dossier"),
        Route("/gestion/dossiers/{dossier_id}/action", dossiers.act, methods=["POST"], name="staff_act"),
        Route("/gestion/dossiers/{dossier_id}/note", dossiers.note, methods=["POST"], name="staff_note"),
        Route(
            "/gestion/dossiers/{dossier_id}/pieces/{document_id}",
            dossiers.decide,
            methods=["POST"],
            name="staff_decide",
        ),
        Route(
            "/gestion/dossiers/{dossier_id}/fichiers/{file_id}", dossiers.piece_file, name="staff_piece_file"
        ),
        Route(
            "/gestion/dossiers/{dossier_id}/fichiers/{file_id}/voir",
            dossiers.piece_view,
            name="staff_piece_view",
        ),
        Route(
            "/gestion/dossiers/{dossier_id}/fichiers/{file_id}/pages/{page:int}",
            dossiers.piece_page,
            name="staff_piece_page",
        ),
        *export_routes(),
    ]


def export_routes() -> list[BaseRoute]:
    """Exports (staff/exports.py): the form, and the file it streams (POST, CSRF-checked)."""
    return [
        Route("/gestion/exports", exports.exports, methods=["GET"], name="staff_exports"),
        Route("/gestion/exports", exports.download, methods=["POST"], name="staff_exports_download"),
    ]


def routes(settings: Settings, *, dev_outbox: bool) -> list[BaseRoute]:
    """The whole table; ``dev_outbox``: the development outbox page is routed (never in production)."""
    table: list[BaseRoute] = [
        *account_routes(),
        *legal_routes(),
        *space_routes(),
        *staff_routes(),
        Mount("/_service/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    if dev_outbox and not settings.production:
        table.append(Route("/_service/courriels", dev.outbox, name="dev_outbox"))
    table.append(Mount("/", app=PublishedSite(settings.site_dir), name="site"))
    return table
