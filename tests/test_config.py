"""Tests: the settings (config.py, pydantic-settings) — read from TASKLENS_* only by from_env, with the types,
defaults and messages naming each variable; a direct construction reads no environment."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from config import Settings, SettingsError


def test_from_env_reads_typed_values_and_empty_counts_as_unset() -> None:
    env = {
        "TASKLENS_PORT": "9001",
        "TASKLENS_LEASE_SECONDS": "30",
        "TASKLENS_SMTP_STARTTLS": "off",
        "TASKLENS_DEFAULT_TIMEOUT_SECONDS": "",
        "TASKLENS_HOST": "",
        "TASKLENS_NOT_A_SETTING": "ignored",
    }
    settings = Settings.from_env(env)
    assert (settings.port, settings.lease_seconds, settings.smtp_starttls) == (9001, 30.0, False)
    assert settings.default_timeout_seconds is None and settings.host == "127.0.0.1"


def test_flags_win_over_the_environment_and_none_means_not_given() -> None:
    settings = Settings.from_env({"TASKLENS_PORT": "9001"}, port=9002, host=None)
    assert (settings.port, settings.host) == (9002, "127.0.0.1")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TASKLENS_PORT": "abc"}, "TASKLENS_PORT must be a number, got 'abc'"),
        ({"TASKLENS_WORKER_CONCURRENCY": "1.5"}, "TASKLENS_WORKER_CONCURRENCY must be a number, got '1.5'"),
        ({"TASKLENS_LEASE_SECONDS": "soon"}, "TASKLENS_LEASE_SECONDS must be a number, got 'soon'"),
        ({"TASKLENS_SMTP_STARTTLS": "maybe"}, "TASKLENS_SMTP_STARTTLS must be true or false, got 'maybe'"),
        ({"TASKLENS_PORT": "0"}, "TASKLENS_PORT must be between 1 and 65535, got 0"),
        ({"TASKLENS_LOG_FORMAT": "xml"}, "TASKLENS_LOG_FORMAT must be text or json, got 'xml'"),
    ],
)
def test_a_bad_value_is_one_sentence_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(env)
    assert str(raised.value) == message


def test_a_direct_construction_reads_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKLENS_PORT", "9003")
    assert Settings().port == 8050
    assert Settings.from_env().port == 9003


def test_a_lease_flag_brings_the_heartbeat_down_unless_the_heartbeat_is_set() -> None:
    assert Settings.from_env({}, lease_seconds=2).heartbeat_seconds == pytest.approx(2 / 3)
    assert Settings.from_env({}, lease_seconds=60).heartbeat_seconds == 3.0
    chosen = Settings.from_env({"TASKLENS_HEARTBEAT_SECONDS": "0.25"}, lease_seconds=2)
    assert chosen.heartbeat_seconds == 0.25


def test_settings_are_frozen_and_with_makes_a_changed_copy() -> None:
    base = Settings()
    changed = base.with_(port=9004)
    assert (base.port, changed.port) == (8050, 9004)
    with pytest.raises(ValueError, match="frozen"):
        base.port = 1
    assert "smtp_password" not in repr(Settings(smtp_password="s3cret", secret_key="k"))


def test_one_redaction_setting_and_its_deprecated_celery_alias(caplog: pytest.LogCaptureFixture) -> None:
    """TASKLENS_REDACT is the one redaction setting: expressions, and {"key": …} entries for the values masked
    in Celery arguments (the secret keys always). TASKLENS_CELERY_REDACT still works: its keys are added, and
    a warning says what to write instead."""
    s = Settings.from_env({"TASKLENS_REDACT": '["sk-[a-z0-9]+", {"key": "PIN"}]'})
    assert s.redact_patterns() == ("sk-[a-z0-9]+",)
    assert {"pin", "password", "api_key"} <= s.redact_keys()
    assert not caplog.records
    with caplog.at_level("WARNING", logger="config"):
        old = Settings.from_env({"TASKLENS_REDACT": "sk-[a-z0-9]+", "TASKLENS_CELERY_REDACT": "otp, Pin"})
    assert old.redact_patterns() == ("sk-[a-z0-9]+",)
    assert {"otp", "pin", "token"} <= old.redact_keys()
    (warning,) = caplog.records
    assert "TASKLENS_CELERY_REDACT is deprecated" in warning.getMessage()
    assert '{"key": "otp"}' in warning.getMessage()
    with pytest.raises(SettingsError, match='"key": "name"'):
        Settings.from_env({"TASKLENS_REDACT": '[{"keys": "pin"}]'})
    with pytest.raises(ValidationError, match="celery_redact"):
        Settings.model_validate({"celery_redact": "pin"})  # the old field is gone: only its variable is read
