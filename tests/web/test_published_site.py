"""The published site at /: its own CSP with Material's hashes, or a French page when absent."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.anyio


async def test_without_a_published_site_the_home_says_so(client):
    """No site/: / answers a French page, other paths 404, and the service still works."""
    home = await client.get("/")
    assert home.status_code == 200 and "pas encore publiée" in home.text
    assert 'href="/compte/creer"' in home.text
    assert (await client.get("/calendrier.ics")).status_code == 404
    assert (await client.get("/compte/creer")).status_code == 200


async def test_site_pages_get_the_hashes_of_csp_json(client, settings):
    """Site pages are served with script-src 'self' plus the hashes listed in site/csp.json."""
    site = settings.site_dir
    (site / "assets").mkdir(parents=True)
    (site / "index.html").write_text("<!doctype html><title>Note</title><a href='/compte/creer'>Créer</a>")
    (site / "assets" / "app.js").write_text("console.log(1)")
    (site / "csp.json").write_text(json.dumps({"script_hashes": ["sha256-abc=", "sha256-def="]}))
    home = await client.get("/")
    csp = home.headers["content-security-policy"]
    assert home.status_code == 200 and "Créer" in home.text
    assert "script-src 'self' 'sha256-abc=' 'sha256-def='" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    asset = await client.get("/assets/app.js")
    assert (
        asset.headers["cache-control"].startswith("public")
        and asset.headers["x-content-type-options"] == "nosniff"
    )
    (site / "csp.json").write_text("pas du json")
    assert "sha256-abc=" not in (await client.get("/")).headers["content-security-policy"]
