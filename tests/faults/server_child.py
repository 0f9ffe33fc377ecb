"""Child process of the fault campaign: the real service on a port of its own.

Usage: server_child.py CONFIG_JSON

CONFIG_JSON holds what the parent chose (see ``service.ServiceConfig``): the data directory, the
notice, the port, the SMTP relay's port, the argon2 cost, rate-limit overrides, and optionally a
file-size limit (``RLIMIT_FSIZE``, SIGXFSZ ignored: a write past it fails with EFBIG, as on a full
disk). ``mode``:

- ``serve``: ``formservice.server.serve``, the production entry point (``formservice serve``),
  with these settings instead of the environment's (FORMSERVICE_* cannot lower argon2's cost);
- ``app``: ``create_app(settings)`` under ``uvicorn.run`` with the same uvicorn parameters as
  ``serve``: the app's lifespan opens the store itself.

The umask is set to the usual 022, under which a careless ``open`` would leave files readable by
every local user.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
from pathlib import Path

from formservice import server
from formservice.settings import PRODUCTION_ARGON2, Argon2Params, RateLimits, Settings


def settings_of(cfg: dict) -> Settings:
    argon2 = Argon2Params(**cfg["argon2"]) if cfg.get("argon2") else PRODUCTION_ARGON2
    return Settings(
        notice_path=Path(cfg["notice_path"]),
        data_dir=Path(cfg["data_dir"]),
        site_dir=Path(cfg["site_dir"]),
        base_url=cfg.get("base_url") or f"http://127.0.0.1:{cfg['port']}",
        secret_keys=(cfg["secret"],),
        smtp=("127.0.0.1", cfg["smtp_port"]),
        argon2=argon2,
        hash_concurrency=2,
        notice_check_interval=1.0,
        limits=RateLimits(**cfg.get("limits", {})),
        echo_outbox=False,
        store=cfg.get("store", ""),
    )


def limit_file_size(limit: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))


def main(config_path: str) -> int:
    cfg = json.loads(Path(config_path).read_text(encoding="utf-8"))
    os.umask(0o022)
    settings = settings_of(cfg)
    if cfg.get("fsize"):
        limit_file_size(int(cfg["fsize"]))
    if cfg.get("mode", "serve") == "serve":
        server._settings = lambda default_base_url: settings  # the test's settings, not the environment's
        return server.serve("127.0.0.1", int(cfg["port"]), demo=False, workers=int(cfg.get("workers", 1)))

    import uvicorn

    from formservice.web.app import create_app

    server.configure_logging()
    uvicorn.run(
        create_app(settings),
        host="127.0.0.1",
        port=int(cfg["port"]),
        server_header=False,
        access_log=False,
        proxy_headers=True,
        log_level="info",
        log_config=None,
        limit_concurrency=settings.max_connections,
        timeout_keep_alive=5,
        h11_max_incomplete_event_size=64 * 1024,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
