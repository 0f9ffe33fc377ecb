"""Debian's nginx for the tests, run as the current user on loopback, everything (prefix, pid,
logs, temporary bodies) in a folder of its own, with the configuration that ``formservice deploy
nginx`` generates included as it would be in /etc/nginx/sites-enabled/."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from process_helpers import terminate

NGINX = "/usr/sbin/nginx"
MIME_TYPES = "/etc/nginx/mime.types"


def nginx_binary() -> str:
    found = shutil.which("nginx") or (NGINX if Path(NGINX).is_file() else None)
    if not found:
        pytest.fail(
            "nginx is not installed: the deployment tests need it. Install it with "
            "`scripts/system-deps.sh test` (Debian package nginx), as `make test` does."
        )
    return found


@dataclass
class Nginx:
    root: Path
    port: int
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        terminate(self.process)  # SIGTERM: nginx's fast shutdown

    def error_log(self) -> str:
        path = self.root / "error.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def access_log(self) -> str:
        path = self.root / "access.log"
        return path.read_text(errors="replace") if path.exists() else ""


def main_config(root: Path, site_config: Path) -> str:
    """The main nginx.conf around the generated server blocks: foreground, one worker, every path
    under ``root``. As root (CI), the workers stay root too: they must read the test's folders."""
    user = f"user {getpass.getuser()};\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {kind}_temp_path {root / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{user}daemon off;\nworker_processes 1;\npid {root / 'nginx.pid'};\n"
        f"error_log {root / 'error.log'} info;\n"
        "events { worker_connections 128; }\n"
        "http {\n"
        f"    include {MIME_TYPES};\n"
        "    default_type application/octet-stream;\n"
        f"    access_log {root / 'access.log'};\n"
        f"{temp}\n"
        f"    include {site_config};\n"
        "}\n"
    )


def start_nginx(root: Path, site_config_text: str, port: int, timeout_s: float = 20) -> Nginx:
    """Write the configuration, check it (``nginx -t``), start nginx and wait for its port."""
    root.mkdir(parents=True, exist_ok=True)
    site_config = root / "formservice.conf"
    site_config.write_text(site_config_text, encoding="utf-8")
    config = root / "nginx.conf"
    config.write_text(main_config(root, site_config), encoding="utf-8")
    command = [nginx_binary(), "-p", str(root), "-c", str(config), "-e", str(root / "error.log")]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True)
    if checked.returncode != 0:
        pytest.fail(f"nginx -t refused the generated configuration:\n{checked.stderr}")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = Nginx(root, port, process)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"nginx exited with status {process.returncode}:\n{server.error_log()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return server
        except OSError:
            time.sleep(0.05)
    server.stop()
    pytest.fail(f"nginx did not listen on {port} within {timeout_s} s:\n{server.error_log()}")
