"""/espace/mes-donnees: « Mes données », the candidate downloads everything the service holds
about them (``reporting.mydata``), as a ZIP streamed while it is written."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from formservice.web.auth import require_account
from formservice.web.downloads import attachment
from formservice.web.forms import client_ip
from formservice.web.rendering import render
from formservice.web.services import services


async def my_data(request: Request) -> Response:
    account = await require_account(request)
    return await render(request, "candidate/space/my_data.html", {"account": account})


async def my_data_download(request: Request) -> Response:
    account = await require_account(request)
    export = await services(request).my_data.export(account, client_ip(request))
    return attachment(export)
