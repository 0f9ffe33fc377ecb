"""Settings from the environment: defaults, every problem reported, production refusals."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from formservice.settings import Settings, SettingsError

STRONG = "q7Zk2-Vd9xLp4_sNe8RtYw3mHc6Bj1Ua5Gf0"  # random-looking: production checks its entropy


def test_development_defaults_generate_and_keep_a_secret(tmp_path):
    """Without a key, development generates one in the data dir (mode 0600) and reuses it."""
    env = {"FORMSERVICE_DATA_DIR": str(tmp_path / "var")}
    first = Settings.from_env(env)
    assert first.secrets_generated and first.env == "development"
    assert first.base_url == "http://127.0.0.1:8000" and first.smtp is None
    assert first.notice_path == Path("notice.yml") and first.cookie_name == "sid"
    key_file = tmp_path / "var" / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert Settings.from_env(env).secret_keys == first.secret_keys


def test_every_variable_is_read(tmp_path):
    """NOTICE, DATA_DIR, BASE_URL, SMTP, SECRET_KEY (several, first signs) and ENV are honoured."""
    settings = Settings.from_env(
        {
            "FORMSERVICE_NOTICE": "/srv/notice.yml",
            "FORMSERVICE_DATA_DIR": str(tmp_path),
            "FORMSERVICE_BASE_URL": "https://inscriptions.exemple.fr/",
            "FORMSERVICE_SMTP": "smtp.exemple.fr:2525",
            "FORMSERVICE_SECRET_KEY": f"{STRONG}1, {STRONG}2",
            "FORMSERVICE_ENV": "production",
            "FORMSERVICE_CLAMD": "/run/clamav/clamd.ctl",
            "FORMSERVICE_SMTP_SECURITY": "starttls",
        }
    )
    assert settings.notice_path == Path("/srv/notice.yml")
    assert settings.base_url == "https://inscriptions.exemple.fr"
    assert settings.smtp == ("smtp.exemple.fr", 2525)
    assert settings.secret_keys == (f"{STRONG}1", f"{STRONG}2")
    assert settings.production and settings.https and settings.cookie_name == "__Host-sid"
    assert settings.mail_from == "ne-pas-repondre@inscriptions.exemple.fr"
    assert settings.clamd_socket == "/run/clamav/clamd.ctl" and settings.smtp_security == "starttls"


def test_production_refuses_generated_secret_and_http(tmp_path):
    """Production without a key, over http, without SMTP nor antivirus: all reported at once."""
    with pytest.raises(SettingsError) as exc:
        Settings.from_env(
            {
                "FORMSERVICE_ENV": "production",
                "FORMSERVICE_BASE_URL": "http://inscriptions.exemple.fr",
                "FORMSERVICE_DATA_DIR": str(tmp_path),
            }
        )
    text = "\n".join(exc.value.problems)
    assert len(exc.value.problems) == 4
    assert "FORMSERVICE_SECRET_KEY" in text and "https://" in text and "FORMSERVICE_SMTP" in text
    assert "FORMSERVICE_CLAMD" in text
    assert not (tmp_path / "secret_key").exists()


def test_malformed_values_are_reported_in_french(tmp_path):
    """A bad ENV, URL, SMTP address and short key each get a French line."""
    with pytest.raises(SettingsError) as exc:
        Settings.from_env(
            {
                "FORMSERVICE_ENV": "prod",
                "FORMSERVICE_BASE_URL": "inscriptions",
                "FORMSERVICE_SMTP": "smtp",
                "FORMSERVICE_SECRET_KEY": "court",
                "FORMSERVICE_DATA_DIR": str(tmp_path),
            }
        )
    assert len(exc.value.problems) == 4
    assert all(" : " in p for p in exc.value.problems)


def test_every_problem_is_reported_at_once_with_its_exact_french_line(tmp_path):
    """One failed start lists every bad variable, in the order of the variables, word for word."""
    with pytest.raises(SettingsError) as exc:
        Settings.from_env(
            {
                "FORMSERVICE_ENV": "prod",
                "FORMSERVICE_BASE_URL": "inscriptions",
                "FORMSERVICE_SMTP": "smtp",
                "FORMSERVICE_SECRET_KEY": f"{STRONG}, court, aussi-court",
                "FORMSERVICE_DATA_DIR": str(tmp_path),
            }
        )
    assert exc.value.problems == [
        "FORMSERVICE_ENV : « prod » inconnu ; valeurs possibles : development, production",
        "FORMSERVICE_BASE_URL : « inscriptions » n'est pas une adresse de la forme https://nom.du.site",
        "FORMSERVICE_SMTP : « smtp » doit s'écrire hôte:port (par exemple smtp:25)",
        "FORMSERVICE_SECRET_KEY : clé(s) n° 2, 3 trop courte(s) (au moins 32 caractères aléatoires)",
    ]
    assert str(exc.value) == "\n".join(exc.value.problems)


def test_production_refusals_are_reported_with_their_exact_french_lines(tmp_path):
    """In production, http, a missing SMTP relay and a missing key each get their own line."""
    with pytest.raises(SettingsError) as exc:
        Settings.from_env(
            {
                "FORMSERVICE_ENV": " production ",
                "FORMSERVICE_BASE_URL": "http://inscriptions.exemple.fr",
                "FORMSERVICE_DATA_DIR": str(tmp_path),
            }
        )
    assert exc.value.problems == [
        "FORMSERVICE_BASE_URL : en production, l'adresse doit commencer par https://",
        "FORMSERVICE_SMTP : obligatoire en production (sinon aucun courriel ne part)",
        "FORMSERVICE_CLAMD : obligatoire en production (chemin du socket de clamd, par exemple "
        "/run/clamav/clamd.ctl ; « off » pour s'en passer sciemment)",
        "FORMSERVICE_SECRET_KEY : obligatoire en production (une clé générée ne peut pas servir)",
    ]


@pytest.mark.parametrize("raw", ["smtp:0", "smtp:65536", ":25", "smtp:port"])
def test_an_smtp_address_needs_a_host_and_a_valid_port(raw):
    """Port 0, a port past 65535, no host or a named port are each refused."""
    with pytest.raises(SettingsError) as exc:
        Settings.from_env({"FORMSERVICE_SMTP": raw, "FORMSERVICE_SECRET_KEY": STRONG})
    assert exc.value.problems == [
        f"FORMSERVICE_SMTP : « {raw} » doit s'écrire hôte:port (par exemple smtp:25)"
    ]


def test_an_ipv6_smtp_address_loses_its_brackets():
    """[::1]:25 is host ::1, port 25: the brackets only separate the address from the port."""
    settings = Settings.from_env({"FORMSERVICE_SMTP": "[::1]:25", "FORMSERVICE_SECRET_KEY": STRONG})
    assert settings.smtp == ("::1", 25)


@pytest.mark.parametrize("url", ["ftp://exemple.fr", "https://", "https://exemple.fr/inscriptions"])
def test_the_base_url_must_be_an_http_origin(url):
    """Another scheme, no host or a path are refused: links are built by appending a path to it."""
    with pytest.raises(SettingsError) as exc:
        Settings.from_env({"FORMSERVICE_BASE_URL": url, "FORMSERVICE_SECRET_KEY": STRONG})
    assert exc.value.problems == [
        f"FORMSERVICE_BASE_URL : « {url} » n'est pas une adresse de la forme https://nom.du.site"
    ]


def test_the_default_base_url_is_used_when_the_variable_is_blank():
    """A blank FORMSERVICE_BASE_URL falls back on the caller's default (serve passes host:port)."""
    settings = Settings.from_env(
        {"FORMSERVICE_BASE_URL": "  ", "FORMSERVICE_SECRET_KEY": STRONG},
        default_base_url="http://0.0.0.0:9000/",
    )
    assert settings.base_url == "http://0.0.0.0:9000" and not settings.secrets_generated


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("FORMSERVICE_SECRET_KEY", "a" * 32, "trop prévisible"),
        ("FORMSERVICE_SECRET_KEY", "abcdefghijklmnopqrstuvwxyz0123456789", "trop prévisible"),
        ("FORMSERVICE_BASE_URL", "https://evil.com@inscriptions.exemple.fr", "contient un « @ »"),
        ("FORMSERVICE_BASE_URL", "https://inscriptions.exemple.fr/?x=1", "ni « ? » ni « # »"),
        ("FORMSERVICE_BASE_URL", "https://inscriptions.exemple.fr/#x", "ni « ? » ni « # »"),
    ],
)
def test_production_refuses_weak_secrets_and_odd_base_urls(tmp_path, variable, value, expected):
    """A key of repeated characters or a simple sequence, a base URL with user info, a query or
    a fragment: production does not start, and says why in French."""
    env = {
        "FORMSERVICE_ENV": "production",
        "FORMSERVICE_DATA_DIR": str(tmp_path),
        "FORMSERVICE_BASE_URL": "https://inscriptions.exemple.fr",
        "FORMSERVICE_SMTP": "smtp.exemple.fr:25",
        "FORMSERVICE_CLAMD": "/run/clamav/clamd.ctl",
        "FORMSERVICE_SECRET_KEY": STRONG,
        variable: value,
    }
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(env)
    assert any(expected in problem and variable in problem for problem in refused.value.problems)


def test_files_are_local_by_default_and_in_s3_when_named(tmp_path):
    """FORMSERVICE_FILES unset keeps the files in the data directory; s3://bucket/prefix reads the
    endpoint, region and keys, and never shows the secret in a repr."""
    base = {"FORMSERVICE_DATA_DIR": str(tmp_path)}
    assert not Settings.from_env(base).files.s3
    settings = Settings.from_env(
        base
        | {
            "FORMSERVICE_FILES": "s3://justificatifs/poitiers/2026/",
            "FORMSERVICE_S3_ENDPOINT": "https://s3.exemple.fr/",
            "FORMSERVICE_S3_REGION": "fr-par",
            "AWS_ACCESS_KEY_ID": "formservice",
            "AWS_SECRET_ACCESS_KEY": "tr3s-secret-Xk29",
        }
    )
    files = settings.files
    assert files.s3 and files.url == "s3://justificatifs/poitiers/2026"
    assert (files.endpoint, files.region, files.access_key) == (
        "https://s3.exemple.fr",
        "fr-par",
        "formservice",
    )
    assert files.secret_key == "tr3s-secret-Xk29" and "tr3s-secret" not in repr(settings)


def test_files_settings_problems_are_reported_in_french(tmp_path):
    """A URL that is no s3:// one, missing keys, an endpoint in clear in production, a missing CA
    file: one line each, with the rest of the configuration's problems."""
    with pytest.raises(SettingsError) as bad_url:
        Settings.from_env({"FORMSERVICE_DATA_DIR": str(tmp_path), "FORMSERVICE_FILES": "/srv/fichiers"})
    assert bad_url.value.problems == [
        "FORMSERVICE_FILES : « /srv/fichiers » n'est pas reconnu ; écrivez s3://seau/prefixe pour un "
        "stockage S3, ou laissez la variable vide pour garder les fichiers dans le dossier de données"
    ]
    with pytest.raises(SettingsError) as s3:
        Settings.from_env(
            {
                "FORMSERVICE_DATA_DIR": str(tmp_path),
                "FORMSERVICE_ENV": "production",
                "FORMSERVICE_BASE_URL": "https://inscriptions.exemple.fr",
                "FORMSERVICE_SMTP": "smtp:25",
                "FORMSERVICE_CLAMD": "off",
                "FORMSERVICE_SECRET_KEY": STRONG,
                "FORMSERVICE_FILES": "s3://justificatifs",
                "FORMSERVICE_S3_ENDPOINT": "http://10.0.0.5:8333",
                "FORMSERVICE_S3_CAFILE": str(tmp_path / "absent.pem"),
            }
        )
    assert s3.value.problems == [
        "FORMSERVICE_S3_ENDPOINT : « http://10.0.0.5:8333 » est en clair : en production, les "
        "justificatifs ne circulent vers le stockage qu'en https",
        "AWS_ACCESS_KEY_ID et AWS_SECRET_ACCESS_KEY : obligatoires avec FORMSERVICE_FILES=s3://… (la clé "
        "d'accès au stockage et son secret)",
        f"FORMSERVICE_S3_CAFILE : « {tmp_path / 'absent.pem'} » n'est pas un fichier lisible",
    ]


def test_the_store_is_chosen_by_url_and_an_unknown_one_is_refused_in_french(tmp_path):
    """FORMSERVICE_STORE: the data directory's TinyDB store by default, a PostgreSQL URL shared
    by several workers, anything else refused (without echoing a password)."""
    base = {"FORMSERVICE_DATA_DIR": str(tmp_path / "var")}
    default = Settings.from_env(base)
    assert default.store_url == f"tinydb:{tmp_path / 'var' / 'store'}" and not default.shared_store
    url = "postgresql://formservice@/formservice?host=/run/postgresql"
    shared = Settings.from_env(base | {"FORMSERVICE_STORE": url})
    assert shared.store_url == url and shared.shared_store
    with pytest.raises(SettingsError) as info:
        Settings.from_env(base | {"FORMSERVICE_STORE": "mysql://moi:secret@db/formservice"})
    assert info.value.problems == [
        "FORMSERVICE_STORE : « db/formservice » inconnu ; valeurs possibles : tinydb:CHEMIN, "
        "postgresql://utilisateur@hôte/base"
    ]
