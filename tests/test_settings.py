"""Settings from the environment: defaults, every problem reported, production refusals."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from formservice.settings import Settings, SettingsError

STRONG = "s" * 40


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
        }
    )
    assert settings.notice_path == Path("/srv/notice.yml")
    assert settings.base_url == "https://inscriptions.exemple.fr"
    assert settings.smtp == ("smtp.exemple.fr", 2525)
    assert settings.secret_keys == (f"{STRONG}1", f"{STRONG}2")
    assert settings.production and settings.https and settings.cookie_name == "__Host-sid"
    assert settings.mail_from == "ne-pas-repondre@inscriptions.exemple.fr"


def test_production_refuses_generated_secret_and_http(tmp_path):
    """Production without a key, over http and without SMTP: all three problems reported at once."""
    with pytest.raises(SettingsError) as exc:
        Settings.from_env(
            {
                "FORMSERVICE_ENV": "production",
                "FORMSERVICE_BASE_URL": "http://inscriptions.exemple.fr",
                "FORMSERVICE_DATA_DIR": str(tmp_path),
            }
        )
    text = "\n".join(exc.value.problems)
    assert len(exc.value.problems) == 3
    assert "FORMSERVICE_SECRET_KEY" in text and "https://" in text and "FORMSERVICE_SMTP" in text
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
