"""Runtime settings, read once from the environment and validated as a whole.

Like MkDocs' ``load_config``, every problem is collected and reported at once (in French, for
whoever deploys), then the service refuses to start. Tests build ``Settings(...)`` directly with
their own temporary directories and cheaper argon2 parameters.

Environment variables:

- ``FORMSERVICE_NOTICE``: path of notice.yml (default ``./notice.yml``)
- ``FORMSERVICE_DATA_DIR``: data directory (default ``./var``)
- ``FORMSERVICE_SITE_DIR``: published site (default ``./site``)
- ``FORMSERVICE_SITE_AUTOPUBLISH``: ``off`` keeps the running service from republishing the site
  when notice.yml changes (default: it does; the site is then built elsewhere, by CI say)
- ``FORMSERVICE_BASE_URL``: public address, used for every link in e-mails; never derived from
  the request's Host header
- ``FORMSERVICE_SMTP``: ``host:port`` of an SMTP server; unset, mails go to the development outbox
- ``FORMSERVICE_MAIL_FROM``: sender address (default ``ne-pas-repondre@<host of the base URL>``)
- ``FORMSERVICE_SECRET_KEY``: comma-separated keys, the **first** signs, the others (older) are
  still accepted; generated in the data directory in development, required in production
- ``FORMSERVICE_ENV``: ``development`` | ``production``
- ``FORMSERVICE_FILES``: where the candidates' files are kept: unset for ``<data dir>/uploads``,
  or ``s3://bucket/prefix`` with ``FORMSERVICE_S3_ENDPOINT`` (unset: AWS), ``FORMSERVICE_S3_REGION``,
  ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY`` and ``FORMSERVICE_S3_CAFILE``
- ``FORMSERVICE_STORE``: the engine holding the records, ``tinydb:PATH`` (default: the data
  directory's ``store``) or ``postgresql://user@host/base`` (several workers, several machines)
"""

from __future__ import annotations

import itertools
import math
import os
import re
import secrets
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

Env = Literal["development", "production"]
SECRET_FILE = "secret_key"
MIN_SECRET_LENGTH = 32


@dataclass(frozen=True)
class Argon2Params:
    """argon2id cost. The default is OWASP's recommendation (m=19 MiB, t=2, p=1)."""

    time_cost: int = 2
    memory_cost: int = 19456  # KiB
    parallelism: int = 1


PRODUCTION_ARGON2 = Argon2Params()


@dataclass(frozen=True)
class RateLimits:
    """Throttling thresholds. Login uses growing delays capped at ``login_max_delay``: an attacker
    can slow a candidate down, never lock them out before the deadline."""

    login_free_per_pair: int = 5  # failures for one (account, IP) before delays start
    login_free_per_account: int = 20  # failures for one account from anywhere
    login_free_per_ip: int = 30  # failures from one IP on any account
    login_base_delay: float = 1.0  # seconds, doubled at each further failure
    login_max_delay: float = 60.0
    signup_per_ip_hour: int = 20
    resend_per_ip_hour: int = 20
    reset_per_ip_hour: int = 20
    mails_per_address_hour: int = 5  # mails any one address may receive from signup/resend/reset


@dataclass(frozen=True)
class FilesConfig:
    """Where the candidates' files are kept (``files.factory.open_files``): ``url`` empty for
    the data directory's ``uploads/``, or ``s3://bucket/prefix`` for an S3-compatible store."""

    url: str = ""
    endpoint: str | None = None  # https://s3.example.fr; None: AWS's own endpoints
    region: str = "us-east-1"
    access_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    cafile: str | None = None  # the store's CA certificate, if it is not a public one
    timeout: float = 30.0  # seconds a request may wait for an answer, before its retries
    attempts: int = 3
    part_bytes: int = 8 * 1024 * 1024  # size of a multipart upload's parts (S3's minimum: 5 MiB)

    @property
    def s3(self) -> bool:
        return self.url.startswith("s3://")


@dataclass(frozen=True)
class Settings:
    notice_path: Path
    data_dir: Path
    base_url: str = "http://127.0.0.1:8000"
    secret_keys: tuple[str, ...] = ()
    env: Env = "development"
    smtp: tuple[str, int] | None = None
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_cafile: str | None = None
    clamd_socket: str | None = None  # FORMSERVICE_CLAMD; unset: uploads not scanned (development)
    clamd_timeout: float = 30.0
    upload_min_rate: float = 10 * 1024  # bytes/s on average, after upload_grace_s: else a 408
    upload_grace_s: float = 10.0
    files: FilesConfig = FilesConfig()
    # Who may tell the service, in X-Forwarded-For / X-Forwarded-Proto, the client's address and
    # scheme (uvicorn's forwarded_allow_ips): the reverse proxy only. Anyone else's are ignored.
    trusted_proxies: str = "127.0.0.1"
    mail_from: str = ""
    site_dir: Path = Path("site")
    secrets_generated: bool = False
    argon2: Argon2Params = PRODUCTION_ARGON2
    hash_concurrency: int = field(default_factory=lambda: max(1, min(4, os.cpu_count() or 1)))
    session_idle: timedelta = timedelta(hours=1)
    session_absolute: timedelta = timedelta(hours=12)
    session_touch: timedelta = timedelta(minutes=1)
    staff_session_idle: timedelta = timedelta(minutes=30)
    staff_session_absolute: timedelta = timedelta(hours=10)
    reset_max_age: timedelta = timedelta(hours=1)
    purge_interval: timedelta = timedelta(minutes=10)
    notice_check_interval: float = 1.0  # seconds between two stat() of notice.yml
    max_form_bytes: int = 64 * 1024
    form_body_seconds: float = 16.0  # a form's body: 10 s, then 10 KiB/s for the largest allowed
    limits: RateLimits = RateLimits()
    cpu_workers: int = 2  # threads decoding uploaded images and rendering PDFs
    max_connections: int = 400  # uvicorn's limit_concurrency: beyond, an immediate 503
    echo_outbox: bool = True  # the development outbox prints each mail's links on the console
    # The service republishes site_dir when a new notice comes in force (notice/site/autopublish.py).
    # Off unless asked (tests build Settings directly); from_env turns it on.
    site_autopublish: bool = False
    store: str = ""  # FORMSERVICE_STORE; empty: the embedded TinyDB store of the data directory

    def __post_init__(self) -> None:
        if not self.secret_keys:
            raise ValueError("Settings needs at least one secret key")
        if not self.mail_from:
            object.__setattr__(self, "mail_from", f"ne-pas-repondre@{self.host or 'localhost'}")

    # -- the data directory's layout: the one place that names its parts ------------------------
    @property
    def store_dir(self) -> Path:
        """The embedded store's journal and snapshots."""
        return store_dir_of(self.data_dir)

    @property
    def store_url(self) -> str:
        """Which engine holds the records (``store.factory.open_engine``)."""
        return self.store or f"tinydb:{self.store_dir}"

    @property
    def shared_store(self) -> bool:
        """Whether other processes (workers, machines) may serve the same records: then nothing
        they must agree on may live in one process's memory."""
        return self.store_url.startswith(POSTGRES_SCHEMES)

    @property
    def uploads_dir(self) -> Path:
        """The candidates' files, one folder per account."""
        return self.data_dir / "uploads"

    @property
    def tmp_dir(self) -> Path:
        """Uploads being received (same file system as ``uploads_dir``: a rename is atomic)."""
        return self.data_dir / "tmp"

    @property
    def outbox_dir(self) -> Path:
        """Mails written as .eml files when no SMTP relay is configured (development)."""
        return self.data_dir / "outbox"

    @property
    def audit_path(self) -> Path:
        return self.data_dir / "audit.log"

    @property
    def secret_path(self) -> Path:
        """The generated development secret key."""
        return self.data_dir / SECRET_FILE

    @property
    def https(self) -> bool:
        return self.base_url.startswith("https://")

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or ""

    @property
    def origin(self) -> str:
        """scheme://host[:port] of the base URL, what browsers send as ``Origin``."""
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}".lower()

    @property
    def cookie_name(self) -> str:
        return "__Host-sid" if self.https else "sid"

    @property
    def staff_cookie_name(self) -> str:
        """The exam office's session cookie: separate from the candidates' (one browser may hold
        both; neither opens the other's pages)."""
        return "__Host-staff" if self.https else "staff"

    @property
    def production(self) -> bool:
        return self.env == "production"

    def url(self, path: str) -> str:
        """An absolute URL for e-mails, from the configured base URL only."""
        return self.base_url.rstrip("/") + path

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, default_base_url: str = "http://127.0.0.1:8000"
    ) -> Settings:
        """Raise SettingsError only once every variable has been read, so that one failed start
        lists everything there is to fix."""
        env_vars = os.environ if environ is None else environ
        problems: list[str] = []
        env = _read_env(env_vars, problems)
        base_url = _read_base_url(env_vars, env, default_base_url, problems)
        smtp = _read_smtp(env_vars, env, problems)
        smtp_security = _read_smtp_security(env_vars, problems)
        clamd_socket = _read_clamd(env_vars, env, problems)
        files = _read_files(env_vars, env, problems)
        trusted_proxies = _read_trusted_proxies(env_vars, env, problems)
        data_dir = data_dir_from(env_vars)
        keys, generated = _read_secret_keys(env_vars, env, data_dir, problems)
        store = _read_store(env_vars, problems)
        if problems:
            raise SettingsError(problems)
        return cls(
            notice_path=notice_path_from(env_vars),
            data_dir=data_dir,
            site_dir=site_dir_from(env_vars),
            site_autopublish=env_vars.get("FORMSERVICE_SITE_AUTOPUBLISH", "").strip().lower()
            not in ("off", "0", "non", "no", "false"),
            base_url=base_url,
            secret_keys=keys,
            env=env,
            smtp=smtp,
            smtp_security=smtp_security,
            clamd_socket=clamd_socket,
            files=files,
            trusted_proxies=trusted_proxies,
            smtp_user=env_vars.get("FORMSERVICE_SMTP_USER", "").strip() or None,
            smtp_password=env_vars.get("FORMSERVICE_SMTP_PASSWORD") or None,
            smtp_cafile=env_vars.get("FORMSERVICE_SMTP_CAFILE", "").strip() or None,
            mail_from=env_vars.get("FORMSERVICE_MAIL_FROM", "").strip(),
            secrets_generated=generated,
            store=store,
        )


# -- one reader per variable group: each appends its problems and returns a usable value ---------


def _read_env(environ: Mapping[str, str], problems: list[str]) -> Env:
    """FORMSERVICE_ENV. An unknown value counts as development, so that the other variables are
    still checked (and a typo never relaxes production's rules silently: the start fails)."""
    env = environ.get("FORMSERVICE_ENV", "development").strip() or "development"
    if env == "production":
        return "production"
    if env != "development":
        problems.append(f"FORMSERVICE_ENV : « {env} » inconnu ; valeurs possibles : development, production")
    return "development"


def _read_base_url(environ: Mapping[str, str], env: Env, default: str, problems: list[str]) -> str:
    """FORMSERVICE_BASE_URL, without its final slash. Every link in e-mails is built from it, never
    from the request's Host header, so it must be an origin (and https in production)."""
    base_url = environ.get("FORMSERVICE_BASE_URL", "").strip() or default
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        problems.append(
            f"FORMSERVICE_BASE_URL : « {base_url} » n'est pas une adresse de la forme https://nom.du.site"
        )
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        problems.append(
            f"FORMSERVICE_BASE_URL : « {base_url} » contient un « @ » (identifiant avant le nom du site) : "
            "un lien des courriels mènerait ailleurs que sur le site"
        )
    if parts.query or parts.fragment or base_url.rstrip("/").endswith(("?", "#")):
        problems.append(f"FORMSERVICE_BASE_URL : « {base_url} » ne doit contenir ni « ? » ni « # »")
    if env == "production" and parts.scheme != "https":
        problems.append("FORMSERVICE_BASE_URL : en production, l'adresse doit commencer par https://")
    return base_url.rstrip("/")


POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def _read_store(environ: Mapping[str, str], problems: list[str]) -> str:
    """FORMSERVICE_STORE: ``tinydb:PATH`` or a PostgreSQL URL; empty for the default."""
    raw = environ.get("FORMSERVICE_STORE", "").strip()
    if not raw or raw.startswith(POSTGRES_SCHEMES) or (raw.startswith("tinydb:") and len(raw) > 7):
        return raw
    problems.append(
        f"FORMSERVICE_STORE : « {raw.split('@')[-1]} » inconnu ; valeurs possibles : tinydb:CHEMIN, "
        "postgresql://utilisateur@hôte/base"
    )
    return ""


def _read_clamd(environ: Mapping[str, str], env: Env, problems: list[str]) -> str | None:
    """FORMSERVICE_CLAMD: the Unix socket of a ClamAV daemon scanning every upload. Production
    requires it unless FORMSERVICE_CLAMD=off says, knowingly, that files go unscanned."""
    raw = environ.get("FORMSERVICE_CLAMD", "").strip()
    if raw.lower() == "off":
        return None
    if not raw:
        if env == "production":
            problems.append(
                "FORMSERVICE_CLAMD : obligatoire en production (chemin du socket de clamd, par exemple "
                "/run/clamav/clamd.ctl ; « off » pour s'en passer sciemment)"
            )
        return None
    if not raw.startswith("/"):
        problems.append(f"FORMSERVICE_CLAMD : « {raw} » doit être le chemin absolu du socket Unix de clamd")
        return None
    return raw


def _read_trusted_proxies(environ: Mapping[str, str], env: Env, problems: list[str]) -> str:
    """FORMSERVICE_TRUSTED_PROXIES (or uvicorn's own FORWARDED_ALLOW_IPS): the addresses of the
    reverse proxies, comma-separated; 127.0.0.1 by default (nginx on the same machine). ``*``
    would let any client choose the address the rate limits count it under."""
    raw = (
        environ.get("FORMSERVICE_TRUSTED_PROXIES", "").strip()
        or environ.get("FORWARDED_ALLOW_IPS", "").strip()
        or "127.0.0.1"
    )
    if "*" in raw and env == "production":
        problems.append(
            "FORMSERVICE_TRUSTED_PROXIES : « * » ferait croire l'adresse que n'importe quel client "
            "annonce ; indiquez l'adresse du frontal nginx (127.0.0.1 s'il est sur la même machine)"
        )
    return raw


# A bucket's name as S3 allows it; a prefix of plain path segments (no "..", no odd characters).
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_PREFIX = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*(?:/[A-Za-z0-9_-][A-Za-z0-9._-]*)*")


def files_config_from(environ: Mapping[str, str] | None = None) -> FilesConfig:
    """FORMSERVICE_FILES and its S3 settings alone, for the commands that need nothing else
    (``store check``); raises SettingsError."""
    env_vars = os.environ if environ is None else environ
    problems: list[str] = []
    env = _read_env(env_vars, problems)
    files = _read_files(env_vars, env, problems)
    if problems:
        raise SettingsError(problems)
    return files


def _read_files(environ: Mapping[str, str], env: Env, problems: list[str]) -> FilesConfig:
    """FORMSERVICE_FILES, then, for ``s3://``, the endpoint, region, keys and CA of the store."""
    url = environ.get("FORMSERVICE_FILES", "").strip()
    if url in ("", "local"):
        return FilesConfig()
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    prefix = prefix.strip("/")
    if (
        not url.startswith("s3://")
        or not _BUCKET.fullmatch(bucket)
        or (prefix and not _PREFIX.fullmatch(prefix))
    ):
        problems.append(
            f"FORMSERVICE_FILES : « {url} » n'est pas reconnu ; écrivez s3://seau/prefixe pour un stockage "
            "S3, ou laissez la variable vide pour garder les fichiers dans le dossier de données"
        )
        return FilesConfig()
    endpoint = _read_s3_endpoint(environ, env, problems)
    access_key = environ.get("AWS_ACCESS_KEY_ID", "").strip() or None
    secret_key = environ.get("AWS_SECRET_ACCESS_KEY", "").strip() or None
    if access_key is None or secret_key is None:
        problems.append(
            "AWS_ACCESS_KEY_ID et AWS_SECRET_ACCESS_KEY : obligatoires avec FORMSERVICE_FILES=s3://… "
            "(la clé d'accès au stockage et son secret)"
        )
    cafile = environ.get("FORMSERVICE_S3_CAFILE", "").strip() or None
    if cafile is not None and not Path(cafile).is_file():
        problems.append(f"FORMSERVICE_S3_CAFILE : « {cafile} » n'est pas un fichier lisible")
    region = (
        environ.get("FORMSERVICE_S3_REGION", "").strip()
        or environ.get("AWS_REGION", "").strip()
        or "us-east-1"
    )
    return FilesConfig(
        url=f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}",
        endpoint=endpoint,
        region=region,
        access_key=access_key,
        secret_key=secret_key,
        cafile=cafile,
    )


def _read_s3_endpoint(environ: Mapping[str, str], env: Env, problems: list[str]) -> str | None:
    """FORMSERVICE_S3_ENDPOINT: an origin; https in production (the files are personal data)."""
    raw = environ.get("FORMSERVICE_S3_ENDPOINT", "").strip().rstrip("/")
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
        problems.append(
            f"FORMSERVICE_S3_ENDPOINT : « {raw} » n'est pas une adresse de la forme https://stockage.exemple.fr"
        )
        return None
    if env == "production" and parts.scheme != "https":
        problems.append(
            f"FORMSERVICE_S3_ENDPOINT : « {raw} » est en clair : en production, les justificatifs ne "
            "circulent vers le stockage qu'en https"
        )
    return raw


def _read_smtp_security(
    environ: Mapping[str, str], problems: list[str]
) -> Literal["none", "starttls", "tls"]:
    """FORMSERVICE_SMTP_SECURITY: starttls (required), tls (implicit, port 465) or none."""
    value = environ.get("FORMSERVICE_SMTP_SECURITY", "none").strip().lower() or "none"
    if value not in ("none", "starttls", "tls"):
        problems.append(
            f"FORMSERVICE_SMTP_SECURITY : « {value} » inconnu ; valeurs possibles : none, starttls, tls"
        )
        return "none"
    return value  # type: ignore[return-value]


def _read_smtp(environ: Mapping[str, str], env: Env, problems: list[str]) -> tuple[str, int] | None:
    """FORMSERVICE_SMTP as (host, port). None sends mails to the development outbox, which in
    production would mean no candidate ever receives one."""
    raw = environ.get("FORMSERVICE_SMTP", "").strip()
    if not raw:
        if env == "production":
            problems.append("FORMSERVICE_SMTP : obligatoire en production (sinon aucun courriel ne part)")
        return None
    host, _, port = raw.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        problems.append(f"FORMSERVICE_SMTP : « {raw} » doit s'écrire hôte:port (par exemple smtp:25)")
        return None
    return host.strip("[]"), int(port)  # [::1]:25: the brackets belong to the notation, not the host


def _read_secret_keys(
    environ: Mapping[str, str], env: Env, data_dir: Path, problems: list[str]
) -> tuple[tuple[str, ...], bool]:
    """FORMSERVICE_SECRET_KEY, and whether the key was generated. Several keys let a new one sign
    while the older ones still verify what they signed (a rotation logs nobody out). Only
    development may fall back on a key generated in the data directory: production must be given
    its keys."""
    keys = tuple(k.strip() for k in environ.get("FORMSERVICE_SECRET_KEY", "").split(",") if k.strip())
    generated = False
    if not keys:
        if env == "production":
            problems.append(
                "FORMSERVICE_SECRET_KEY : obligatoire en production (une clé générée ne peut pas servir)"
            )
        else:
            keys = (development_secret(data_dir),)
            generated = True
    short = [i + 1 for i, k in enumerate(keys) if len(k) < MIN_SECRET_LENGTH]
    if short:
        problems.append(
            f"FORMSERVICE_SECRET_KEY : clé(s) n° {', '.join(map(str, short))} trop courte(s) "
            f"(au moins {MIN_SECRET_LENGTH} caractères aléatoires)"
        )
    weak = [i + 1 for i, k in enumerate(keys) if len(k) >= MIN_SECRET_LENGTH and not random_enough(k)]
    if weak and env == "production":
        problems.append(
            f"FORMSERVICE_SECRET_KEY : clé(s) n° {', '.join(map(str, weak))} trop prévisible(s) (caractères "
            "répétés ou suite simple) ; générez-en une avec « python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(48))' »"
        )
    return keys, generated


MIN_SECRET_BITS = 100  # estimated: 32 random hex digits (128 real bits) score about 120


def random_enough(key: str) -> bool:
    """At least MIN_SECRET_BITS by a per-character Shannon estimate, and no run of one character
    or simple sequence (``aaaa…``, ``abcd…``, ``0123…``) over half of it."""
    counts = Counter(key)
    bits_per_char = -sum(n / len(key) * math.log2(n / len(key)) for n in counts.values())
    steps = Counter(ord(b) - ord(a) for a, b in itertools.pairwise(key))
    regular = steps.most_common(1)[0][1] if steps else 0
    return bits_per_char * len(key) >= MIN_SECRET_BITS and regular <= len(key) // 2


def data_dir_from(environ: Mapping[str, str] | None = None) -> Path:
    """FORMSERVICE_DATA_DIR (default ./var): for the commands that need nothing else."""
    return Path((os.environ if environ is None else environ).get("FORMSERVICE_DATA_DIR", "var"))


def store_dir_of(data_dir: Path) -> Path:
    return Path(data_dir) / "store"


def site_dir_from(environ: Mapping[str, str] | None = None) -> Path:
    """FORMSERVICE_SITE_DIR (default ./site)."""
    return Path((os.environ if environ is None else environ).get("FORMSERVICE_SITE_DIR", "site"))


def notice_path_from(environ: Mapping[str, str] | None = None) -> Path:
    """FORMSERVICE_NOTICE (default ./notice.yml)."""
    return Path((os.environ if environ is None else environ).get("FORMSERVICE_NOTICE", "notice.yml"))


class SettingsError(Exception):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def development_secret(data_dir: Path) -> str:
    """The key kept in the data directory for development, created (mode 0600) on first use;
    the data directory, if this creates it, is 0700 (`durable.private_dir`)."""
    from formservice.durable import open_private, private_dir  # here: this function is the only user

    path = Path(data_dir) / SECRET_FILE  # Settings.secret_path, before there is a Settings
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    private_dir(path.parent)
    key = secrets.token_urlsafe(48)
    fd = open_private(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key + "\n")
    return key
