"""Links in pages come from the route table, remembered per table."""

from __future__ import annotations

from starlette.responses import PlainTextResponse
from starlette.routing import Route, Router

from formservice.web.rendering import _RouteFacts, remembered_paths, url_path


async def ok(request):
    return PlainTextResponse("ok")


def test_url_path_matches_the_router_and_follows_a_later_route():
    router = Router([Route("/a", ok, name="a"), Route("/b/{token}", ok, name="b")])
    assert url_path(router, "a") == "/a" == str(router.url_path_for("a"))
    assert url_path(router, "b", token="x.y") == "/b/x.y" and url_path(router, "b", token="z") == "/b/z"
    router.routes.insert(0, Route("/c", ok, name="c"))  # a route added after the first page
    assert url_path(router, "c") == "/c"


def test_url_path_memory_is_bounded(monkeypatch):
    """Links with a token (one per activation mail) are computed, not kept beyond the bound."""
    monkeypatch.setattr(_RouteFacts, "MAX_PATHS", 3)
    router = Router([Route("/b/{token}", ok, name="b")])
    assert [url_path(router, "b", token=str(i)) for i in range(10)] == [f"/b/{i}" for i in range(10)]
    assert remembered_paths(router) == 3
