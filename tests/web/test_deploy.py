"""``formservice deploy nginx``: the generated configuration, checked by Debian's nginx itself and
then walked through over https by a candidate, nginx in front of the real service (``formservice
serve`` in a child process): signup, activation link, login, enrolment, an upload and its
download, the notice's pages served by nginx with their cache headers and CSP, a body over the
limit refused by nginx with a French page the service never hears of. One nginx and one service
for the module."""

from __future__ import annotations

import json
import re
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from account_helpers import PASSWORD, REPO, SECRET, Client, Mailbox, free_port, log_in, wait_until
from faults.service import Service, open_notice
from nginx_helpers import Nginx, start_nginx
from site_fixtures import published_site
from tls_helpers import self_signed_certificate
from upload_helpers import minimal_pdf

from formservice.audit import AuditLog
from formservice.cli import main
from formservice.clock import SystemClock
from formservice.enrolment.rules import required_documents
from formservice.notice import Notice, load_notice
from formservice.uploads import MIB
from formservice.web.deploy import NginxSite, nginx_config, too_large_page
from formservice.web.published_site import PublishedSite

from .candidate.test_enrolment import enrol_form, save, upload

pytestmark = pytest.mark.anyio
EXAMPLE = REPO / "deploy" / "nginx" / "formservice.conf"
EXAMPLE_ARGS = ["--server-name", "inscriptions.ac-poitiers.fr", "--site-dir", "/srv/formservice/site"]


@dataclass
class Deployment:
    nginx: Nginx
    service: Service
    site: Path
    notice: Notice
    certificate: str
    mailbox: Mailbox
    http_port: int

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.nginx.port}"

    def client(self) -> Client:
        return Client(
            base_url=self.url,
            verify=ssl.create_default_context(cafile=self.certificate),
            follow_redirects=False,
        )

    def service_log(self) -> str:
        return self.service.log()


def _wait_ready(service: Service, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert service.running, service.log()
        try:
            if httpx.get(f"{service.base_url}/compte/connexion", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"the service never got ready:\n{service.log()}")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, _smtp_server: Mailbox) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("deploy")
    site = published_site(tmp_path_factory)
    notice_path = open_notice(root / "notice.yml")
    certificate, key = self_signed_certificate(root)
    port, http_port = free_port(), free_port()
    service = Service(
        root / "service", root / "var", notice_path, _smtp_server.port, public_url=f"https://127.0.0.1:{port}"
    )
    (root / "service").mkdir()
    (root / "service" / "site").symlink_to(site)  # the service knows the same site as nginx
    service.start()
    try:
        _wait_ready(service)
        text = nginx_config(
            NginxSite(
                server_name="127.0.0.1",
                site_dir=site,
                certificate=Path(certificate),
                certificate_key=Path(key),
                upstreams=(f"127.0.0.1:{service.port}",),
                listen=f"127.0.0.1:{port}",
                http_listen=f"127.0.0.1:{http_port}",
            ),
            load_notice(notice_path),
            notice_path,
        )
        nginx = start_nginx(root / "nginx", text, port)
        try:
            yield Deployment(
                nginx, service, site, load_notice(notice_path), certificate, _smtp_server, http_port
            )
        finally:
            nginx.stop()
    finally:
        service.close()


async def test_a_candidate_journey_through_nginx_over_https(deployment: Deployment) -> None:
    """Signup (with a forged X-Forwarded-For, which nginx replaces), the activation link of the
    mail (on the https address of nginx), login, « M'inscrire », an upload and its download: the
    service behind nginx answers as it does alone."""
    notice, email = deployment.notice, "derriere.nginx@exemple.fr"
    async with deployment.client() as client:
        signup = await client.page("/compte/creer")
        assert signup.status_code == 200 and signup.headers["strict-transport-security"]
        created = await client.post(
            "/compte/creer",
            data={
                "email": email,
                "email_confirm": email,
                "password": PASSWORD,
                "password_confirm": PASSWORD,
                "accept": "oui",
                "csrf_token": client.csrf(),
            },
            headers={"X-Forwarded-For": "203.0.113.7"},
        )
        assert created.status_code in (200, 303), created.text
        wait_until(lambda: bool(deployment.mailbox.to(email)), timeout=20)
        link = deployment.mailbox.link(email, "/compte/activer/")
        assert link.startswith(f"{deployment.url}/compte/activer/")
        page = await client.page(httpx.URL(link).path)
        activated = await client.post(httpx.URL(link).path, data={"csrf_token": client.csrf(page.text)})
        assert activated.status_code == 200 and "Votre compte est activé" in activated.text
        assert (await log_in(client, email)).status_code == 303
        saved = await save(client, notice)
        assert saved.status_code == 303, saved.text

        document = required_documents(notice, enrol_form(notice))[0]
        pdf = minimal_pdf()
        assert (await upload(client, document.id, "scan.pdf", pdf)).status_code == 303
        listing = await client.page("/espace/justificatifs")
        file_id = re.search(r'href="/espace/justificatifs/fichier/([^"/]+)"', listing.text)
        assert file_id, listing.text
        download = await client.get(f"/espace/justificatifs/fichier/{file_id.group(1)}")
        assert download.status_code == 200 and download.content == pdf
    audit = [
        json.loads(line) for line in (deployment.service.data_dir / "audit.log").read_text().splitlines()
    ]
    (created_event,) = [e for e in audit if e["event"] == "account.created"]
    pseudonyms = AuditLog(None, SECRET, SystemClock())
    assert created_event["ip"] == pseudonyms.pseudonym("ip", "127.0.0.1")  # nginx's word, not the client's
    assert created_event["ip"] != pseudonyms.pseudonym("ip", "203.0.113.7")


async def test_the_notice_is_served_by_nginx_with_its_cache_headers(deployment: Deployment) -> None:
    """Pages: checked again at each visit, with the site's CSP (its inline scripts' hashes);
    the theme's assets: kept an hour. The service never sees these requests."""
    async with deployment.client() as client:
        home = await client.get("/")
        assert home.status_code == 200 and "text/html" in home.headers["content-type"]
        assert home.headers["cache-control"] == "no-cache"
        assert home.headers["content-security-policy"] == PublishedSite(deployment.site).csp()
        assert "'sha256-" in home.headers["content-security-policy"]
        assert home.headers["x-content-type-options"] == "nosniff"
        page = await client.get("/pieces-justificatives/")
        assert page.status_code == 200 and page.headers["cache-control"] == "no-cache"
        asset = re.search(r'href="(?:\.\./)*(assets/stylesheets/[^"]+\.css)"', home.text)
        assert asset, home.text[:2000]
        css = await client.get("/" + asset.group(1))
        assert css.status_code == 200 and css.headers["cache-control"] == "public, max-age=3600"
    log = deployment.service_log()
    assert "GET / " not in log and "/pieces-justificatives/" not in log and "/assets/" not in log
    assert "GET / HTTP" in deployment.nginx.access_log()


async def test_a_body_over_the_limit_is_refused_by_nginx_in_french(deployment: Deployment) -> None:
    """A file of the limit plus 200 Kio: nginx answers 413 with the service's own sentence, and the
    service never receives the body."""
    max_file = deployment.notice.uploads.max_file_mb * MIB
    before = deployment.service_log().count("/ajouter")
    async with deployment.client() as client:
        refused = await client.post(
            "/espace/justificatifs/piece/ajouter",
            files={"file": ("gros.pdf", b"%PDF-1.4\n" + b"0" * (max_file + 200 * 1024), "application/pdf")},
        )
    assert refused.status_code == 413
    assert refused.text == too_large_page(max_file)
    assert "dépasse la taille maximale de 5 Mo" in refused.text
    assert deployment.service_log().count("/ajouter") == before


async def test_plain_http_is_sent_to_https(deployment: Deployment) -> None:
    """http:// answers with a redirect to the https address of the configured name, whatever the
    Host header says."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{deployment.http_port}") as client:
        answer = await client.get("/compte/connexion?x=1", headers={"Host": "ailleurs.exemple"})
    assert (
        answer.status_code == 301 and answer.headers["location"] == "https://127.0.0.1/compte/connexion?x=1"
    )


def test_the_example_in_deploy_is_what_the_command_generates(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """deploy/nginx/formservice.conf is the output of the documented command for the repository's
    notice.yml: its limits cannot drift from notice.yml's (regenerate it when this fails, with
    the command of deploy/README.md)."""
    monkeypatch.chdir(REPO)
    assert main(["deploy", "nginx", "--notice", "notice.yml", *EXAMPLE_ARGS]) == 0
    generated = capsys.readouterr().out
    assert EXAMPLE.read_text(encoding="utf-8") == generated
    body = re.search(r"client_max_body_size (\d+);", generated)
    assert body and int(body.group(1)) > load_notice(REPO / "notice.yml").uploads.max_file_mb * MIB


@pytest.mark.parametrize("unit", ["formservice.service", "formservice-mail.service"])
def test_the_systemd_units_run_commands_that_exist(unit: str) -> None:
    """Each unit's ExecStart is a command line the CLI accepts (a renamed option fails here, not
    on the production machine), run as its own user with a private umask."""
    from formservice.cli import build_parser

    text = (REPO / "deploy" / "systemd" / unit).read_text(encoding="utf-8")
    (exec_start,) = re.findall(r"^ExecStart=(.+)$", text, flags=re.M)
    binary, *args = [a for a in exec_start.split() if not a.startswith("$")]
    assert binary.endswith("/.venv/bin/formservice")
    build_parser().parse_args(args)
    assert "User=formservice" in text and "UMask=0077" in text and "NoNewPrivileges=yes" in text
