"""Absolute links to named routes, for mails: from FORMSERVICE_BASE_URL, never the Host header.

Built by the composition root from the route table, before the app exists, and handed to the
use cases as a plain callable: ``links("activate", token=...)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute, Router

from formservice.settings import Settings


class Links:
    def __init__(self, settings: Settings, routes: Sequence[BaseRoute]):
        self._settings = settings
        self.routes = list(routes)  # the app is built on the same table
        self._router = Router(routes=self.routes)

    def path(self, name: str, /, **params: Any) -> str:
        return str(self._router.url_path_for(name, **params))

    def __call__(self, name: str, /, **params: Any) -> str:
        return self._settings.url(self.path(name, **params))
