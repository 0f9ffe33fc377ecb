"""The published site at /: its own CSP with Material's hashes, or a French page when absent."""

from __future__ import annotations

import json
import shutil

import pytest
from site_fixtures import published_site

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


async def test_a_second_visit_gets_the_site_headers_on_304(client, settings):
    """A page or script asked again (If-None-Match) answers 304 with the site's CSP and caching, as
    on 200: the browser merges them into its copy, and the service's CSP would block the search."""
    site = settings.site_dir
    (site / "assets").mkdir(parents=True)
    (site / "index.html").write_text("<!doctype html><title>Note</title>")
    (site / "assets" / "search.js").write_text("fetch('search/search_index.json')")
    (site / "csp.json").write_text(json.dumps({"script_hashes": ["sha256-abc="]}))
    for path in ("/", "/assets/search.js"):
        first = await client.get(path)
        again = await client.get(path, headers={"If-None-Match": first.headers["etag"]})
        assert first.status_code == 200 and again.status_code == 304, path
        for name in ("content-security-policy", "cache-control"):
            assert again.headers[name] == first.headers[name], (path, name)
        assert "'sha256-abc='" in again.headers["content-security-policy"]
        assert "connect-src 'self'" in again.headers["content-security-policy"]


async def test_an_unknown_path_answers_the_sites_french_404(client, settings, tmp_path_factory):
    """Any unknown address (under /espace too) gets the site's French 404, with a way home and to
    the candidate's space; without a published site, the service's own French page says the same."""
    bare = await client.get("/une/page/disparue")
    assert bare.status_code == 404 and "introuvable" in bare.text and 'href="/espace"' in bare.text
    shutil.copytree(published_site(tmp_path_factory), settings.site_dir)
    for path in ("/une/page/disparue", "/espace/nulle-part", "/inscription/ancienne-page.html"):
        missing = await client.get(path)
        assert missing.status_code == 404, path
        assert "Page introuvable" in missing.text and "Not found" not in missing.text
        assert 'href="/"' in missing.text and 'href="/espace"' in missing.text
        assert "'sha256-" in missing.headers["content-security-policy"]
