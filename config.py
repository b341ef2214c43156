"""Configuration layer: the Settings object (pydantic-settings), built once in app.py from TASKLENS_* variables
and flags, then passed down. Above db (it names db's value types: prices, skew window, retention), below
everything else; db takes what it needs as arguments, never this module."""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from db.domain.clientclock import DEFAULT_FUTURE_SECONDS, DEFAULT_PAST_SECONDS, SkewWindow
from db.domain.pricing import DEFAULT_PRICES, Price, load_prices
from db.write.redact import SECRET_KEYS, RedactError, with_keys
from db.write.redact import parse as parse_redact
from db.write.redact import parse_rules as parse_redact_rules

if (
    TYPE_CHECKING
):  # retention imports the analytics (pandas): a CLI command that prunes nothing never loads it
    from db.lifecycle.retention import Policy as RetentionPolicy

ENV_PREFIX = "TASKLENS_"
# The Celery source's own redaction setting before TASKLENS_REDACT covered it: read, added, warned about.
DEPRECATED_CELERY_REDACT = "TASKLENS_CELERY_REDACT"
log = logging.getLogger(__name__)
AUTO_RATE_LIMIT = "600/minute"


class SettingsError(ValueError):
    """A configuration value that cannot be used; the message names the variable."""


class Settings(BaseSettings):
    """Every field is TASKLENS_<NAME> in the environment. Built directly (tests, embedding) it takes its values as
    given and reads no environment; `from_env` reads the environment and checks the whole (`check`)."""

    # Empty variables count as unset (as before pydantic-settings); values are never changed after start.
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_ignore_empty=True, frozen=True, extra="forbid"
    )

    database_url: str = "sqlite:///var/tasklens.db"
    host: str = "127.0.0.1"
    port: int = 8050
    worker_name: str = Field(default_factory=socket.gethostname)
    worker_concurrency: int = 4
    # What this worker claims at all (comma-separated; empty: everything it can run): route GPU or long
    # tasks to chosen workers.
    worker_kinds: str = ""
    worker_tags: str = ""
    lease_seconds: float = 15.0
    heartbeat_seconds: float = 3.0
    # Fallback claim poll; a submit normally wakes an idle worker at once through the change feed.
    poll_seconds: float = 2.0
    sweep_seconds: float = 5.0
    cancel_check_seconds: float = 0.25
    default_timeout_seconds: float | None = None
    retry_backoff_seconds: float = 1.0
    # A task that ignores a stop request (a python callable that never checks) is abandoned after this.
    stop_grace_seconds: float = 5.0
    log_level: str = "INFO"
    log_format: str = "text"  # text | json (one JSON object a line)
    demo_speed: float = 1.0
    # A running task silent for longer than this is shown as "possibly stuck".
    stuck_after_seconds: float = 60.0
    # JSON price table (model -> USD per 1k tokens) over the built-in one; used where only tokens are reported.
    prices_file: str | None = None
    # Where a process keeps its own files (the generated session key, report files): default the SQLite file's
    # folder, or ~/.local/share/tasklens on PostgreSQL; never the working directory of whoever started it.
    data_dir: str | None = None
    # Reports: each run's files go to REPORTS_DIR/<run id>/ (default DATA_DIR/reports); links in e-mails and
    # webhooks start with PUBLIC_URL (default http://HOST:PORT).
    reports_dir: str | None = None
    # A finished run's files are deleted this many days after it ended (the run stays listed); 0 keeps them.
    reports_keep_days: float = 0.0
    public_url: str | None = None
    # Delivery of scheduled reports by e-mail; without SMTP_HOST a schedule's recipients are not mailed.
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = Field(default=None, repr=False)
    smtp_from: str = "tasklens@localhost"
    smtp_starttls: bool = True
    # Files are attached while their total stays under this; larger reports are sent as links.
    report_attach_max_mb: float = 10.0
    # Access control (dashboard/access.py): auto = on unless the web host is a loopback address; on; off.
    auth: str = "auto"
    # Signs the dashboard's session cookie; without it one is generated and kept in the data dir (secret_key).
    secret_key: str | None = Field(default=None, repr=False)
    # Requests per token (or per IP without one) on /api/v1, per web process: N/second|minute|hour, off, or
    # auto (600/minute with access control on, off without: an open local install serves its own agents);
    # up to RATE_BURST at once.
    rate_limit: str = "auto"
    rate_burst: int = 60
    # PostgreSQL connections one process keeps open, and how many more it may open at a peak; plus one for
    # LISTEN in web processes. Mind the server's max_connections across all processes (README: Scaling out).
    db_pool_size: int = 10
    db_max_overflow: int = 5
    # Workers offline for longer than this drop off the live worker lists (their rows and history stay).
    worker_offline_hide_hours: float = 24.0
    # Sources (POST /events `at`, OTLP span times) keep the producer's clock within this window around the
    # server's; a time outside it is refused (422 naming the field; OTLP: the span is rejected).
    clock_skew_past_seconds: float = DEFAULT_PAST_SECONDS
    clock_skew_future_seconds: float = DEFAULT_FUTURE_SECONDS
    # Alerts (issue 13): a webhook every rule notifies (firing and resolved) besides its own channels, and how
    # often the fleet's one evaluator looks at absence and rates (events wake it sooner).
    alert_webhook_url: str | None = None
    alert_eval_seconds: float = 1.0
    # Data lifecycle (issue 17; README "Data lifecycle"). Finished tasks with nothing recorded for this many
    # days are pruned with everything under them (0 keeps them forever); the analytics rollups keep counting
    # them. Audit rows and report runs have their own periods. With ARCHIVE_DIR set, pruned tasks are first
    # written there as gzip JSON Lines.
    retain_days: float = 0.0
    # Finished tasks' progress, activity, call and usage events (repeated in their rows) are deleted after this
    # many days; created and transition events stay with the task (0: never).
    compact_events_days: float = 0.0
    audit_retain_days: float = 0.0
    report_runs_retain_days: float = 0.0
    retain_batch: int = 100
    archive_dir: str | None = None
    # Scheduled backups: one every BACKUP_EVERY_HOURS into BACKUP_DIR (unset: none), the newest BACKUP_KEEP kept.
    backup_dir: str | None = None
    backup_keep: int = 7
    backup_every_hours: float = 24.0
    # The one redaction setting (db/write/redact.py): regular expressions (one, or a JSON list) replaced by
    # [REDACTED] in titles, prompts, responses, errors, activity, call messages and Celery task arguments before
    # they are stored; the list's {"key": "name"} entries add keys whose values are masked in Celery arguments
    # (besides db/write/redact.SECRET_KEYS, always). TASKLENS_CELERY_REDACT (comma-separated keys) is its deprecated
    # alias: its keys are added, with a warning.
    redact: str = ""
    # The Celery source (issue 18): a broker URL (redis://… or amqp://…) whose Celery task and worker events
    # are recorded; the all-in-one process and workers run its one consumer (a database lease per broker).
    celery_broker: str | None = None
    # Its event queue on the broker is celeryev.<CELERY_QUEUE>. On RabbitMQ it is durable, so events sent while
    # no TaskLens consumes wait for it (it expires after a day without a consumer); Celery sends its events
    # over Redis by PUBLISH, which keeps nothing for a subscriber that is away.
    celery_queue: str = "tasklens"
    # The consumer's database lease: a consumer that died without a clean stop is replaced after this long.
    celery_lease_seconds: float = 15.0
    # Task arguments (Celery's repr of args and kwargs) are kept up to this many characters (0: not kept),
    # redacted as TASKLENS_REDACT says.
    celery_args_max_chars: int = 1000

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The constructor's arguments only: the environment is read by from_env, from the mapping it is given.
        return (init_settings,)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then TASKLENS_* variables, then explicit overrides (CLI flags) that are not None; checked,
        a bad value raising SettingsError naming its variable."""
        given = os.environ if env is None else env
        values: dict[str, Any] = MappingEnvSource(cls, given)()
        legacy = given.get(DEPRECATED_CELERY_REDACT, "")
        if legacy.strip():
            keys = [k.strip().lower() for k in legacy.split(",") if k.strip()]
            values["redact"] = with_keys(str(values.get("redact") or ""), keys)
            log.warning(
                "%s is deprecated: its keys are added to TASKLENS_REDACT as %s; the keys %s are always masked",
                DEPRECATED_CELERY_REDACT,
                ", ".join(f'{{"key": "{k}"}}' for k in keys),
                ", ".join(sorted(SECRET_KEYS)),
            )
        values.update({k: v for k, v in overrides.items() if v is not None})
        if overrides.get("lease_seconds") is not None and "heartbeat_seconds" not in values:
            # A short lease given as a flag brings the heartbeat down with it (three renewals per lease).
            default = cls.model_fields["heartbeat_seconds"].default
            values["heartbeat_seconds"] = min(default, overrides["lease_seconds"] / 3)
        try:
            settings = cls(**values)
        except ValidationError as exc:
            raise _named(exc, values) from None
        settings.check()
        return settings

    def with_(self, **changes: Any) -> Settings:
        return self.model_copy(update=changes)

    def claim_kinds(self) -> tuple[str, ...] | None:
        kinds = tuple(k.strip() for k in self.worker_kinds.split(",") if k.strip())
        return kinds or None

    def claim_tags(self) -> tuple[str, ...] | None:
        tags = tuple(t.strip() for t in self.worker_tags.split(",") if t.strip())
        return tags or None

    def check(self) -> None:
        if self.log_format not in ("text", "json"):
            raise SettingsError(f"TASKLENS_LOG_FORMAT must be text or json, got {self.log_format!r}")
        runnable = ("command", "python", "demo")
        for kind in self.claim_kinds() or ():
            if kind not in runnable:
                raise SettingsError(f"TASKLENS_WORKER_KINDS: {kind!r} is not one of {', '.join(runnable)}")
        if not (self.database_url.startswith("sqlite") or self.database_url.startswith("postgres")):
            raise SettingsError(
                "TASKLENS_DATABASE_URL must be sqlite:///PATH or postgresql://…, "
                f"got a {self.database_url.split(':', 1)[0]!r} URL"
            )
        if not 0 < self.port < 65536:
            raise SettingsError(f"TASKLENS_PORT must be between 1 and 65535, got {self.port}")
        if not 1 <= self.worker_concurrency <= 256:
            raise SettingsError(
                f"TASKLENS_WORKER_CONCURRENCY must be between 1 and 256, got {self.worker_concurrency}"
            )
        for name in ("lease_seconds", "heartbeat_seconds", "poll_seconds", "sweep_seconds"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"TASKLENS_{name.upper()} must be positive")
        if self.heartbeat_seconds >= self.lease_seconds:
            raise SettingsError("TASKLENS_HEARTBEAT_SECONDS must be shorter than TASKLENS_LEASE_SECONDS")
        if not 0 < self.smtp_port < 65536:
            raise SettingsError(f"TASKLENS_SMTP_PORT must be between 1 and 65535, got {self.smtp_port}")
        if self.public_url and not self.public_url.startswith(("http://", "https://")):
            raise SettingsError(
                f"TASKLENS_PUBLIC_URL must start with http:// or https://, got {self.public_url!r}"
            )
        if self.report_attach_max_mb < 0:
            raise SettingsError("TASKLENS_REPORT_ATTACH_MAX_MB must not be negative")
        if self.reports_keep_days < 0:
            raise SettingsError("TASKLENS_REPORTS_KEEP_DAYS must not be negative (0 keeps report files)")

        if self.auth not in ("auto", "on", "off"):
            raise SettingsError(f"TASKLENS_AUTH must be auto, on or off, got {self.auth!r}")
        self.rate()  # raises on a bad TASKLENS_RATE_LIMIT
        if self.rate_burst < 1:
            raise SettingsError(f"TASKLENS_RATE_BURST must be at least 1, got {self.rate_burst}")
        if not 1 <= self.db_pool_size <= 1000:
            raise SettingsError(f"TASKLENS_DB_POOL_SIZE must be between 1 and 1000, got {self.db_pool_size}")
        if not 0 <= self.db_max_overflow <= 1000:
            raise SettingsError(
                f"TASKLENS_DB_MAX_OVERFLOW must be between 0 and 1000, got {self.db_max_overflow}"
            )
        for name in ("clock_skew_past_seconds", "clock_skew_future_seconds"):
            if getattr(self, name) < 0:
                raise SettingsError(f"TASKLENS_{name.upper()} must not be negative")
        if self.alert_webhook_url and not self.alert_webhook_url.startswith(("http://", "https://")):
            raise SettingsError(
                f"TASKLENS_ALERT_WEBHOOK_URL must start with http:// or https://, got {self.alert_webhook_url!r}"
            )
        if self.alert_eval_seconds <= 0:
            raise SettingsError(
                f"TASKLENS_ALERT_EVAL_SECONDS must be positive, got {self.alert_eval_seconds}"
            )
        for name in ("retain_days", "compact_events_days", "audit_retain_days", "report_runs_retain_days"):
            if getattr(self, name) < 0:
                raise SettingsError(f"TASKLENS_{name.upper()} must not be negative (0 keeps everything)")
        if not 1 <= self.retain_batch <= 10_000:
            raise SettingsError(f"TASKLENS_RETAIN_BATCH must be between 1 and 10000, got {self.retain_batch}")
        try:
            self.redact_patterns()
        except RedactError as exc:
            raise SettingsError(str(exc)) from None
        if self.backup_keep < 1:
            raise SettingsError(f"TASKLENS_BACKUP_KEEP must be at least 1, got {self.backup_keep}")
        if self.backup_every_hours <= 0:
            raise SettingsError(
                f"TASKLENS_BACKUP_EVERY_HOURS must be positive, got {self.backup_every_hours}"
            )
        if self.celery_broker and not self.celery_broker.startswith(
            ("redis://", "rediss://", "amqp://", "amqps://", "pyamqp://")
        ):
            raise SettingsError(
                "TASKLENS_CELERY_BROKER must be a redis:// or amqp:// URL, "
                f"got a {self.celery_broker.split(':', 1)[0]!r} URL"
            )
        if self.celery_lease_seconds < 1:
            raise SettingsError("TASKLENS_CELERY_LEASE_SECONDS must be at least 1")
        if self.celery_args_max_chars < 0:
            raise SettingsError("TASKLENS_CELERY_ARGS_MAX_CHARS must not be negative (0: arguments not kept)")
        if not self.celery_queue or not all(c.isalnum() or c in "._-" for c in self.celery_queue):
            raise SettingsError(
                f"TASKLENS_CELERY_QUEUE must be letters, digits, '.', '_' or '-', got {self.celery_queue!r}"
            )
        if self.worker_offline_hide_hours <= 0:
            raise SettingsError(
                f"TASKLENS_WORKER_OFFLINE_HIDE_HOURS must be positive, got {self.worker_offline_hide_hours}"
            )

    def redact_keys(self) -> frozenset[str]:
        """The keys whose values are masked in Celery arguments: SECRET_KEYS and TASKLENS_REDACT's own."""
        return parse_redact_rules(self.redact).keys

    @property
    def skew_window(self) -> SkewWindow:
        return SkewWindow(self.clock_skew_past_seconds, self.clock_skew_future_seconds)

    @property
    def auth_enabled(self) -> bool:
        """Whether the API and dashboard ask who is calling: TASKLENS_AUTH, or for auto whether the web host is
        anything but the loopback interface."""
        if self.auth == "auto":
            return not is_loopback(self.host)
        return self.auth == "on"

    def rate(self) -> float | None:
        """TASKLENS_RATE_LIMIT as requests per second, None when off."""
        raw = self.rate_limit.strip().lower()
        if raw == "auto":
            raw = AUTO_RATE_LIMIT if self.auth_enabled else "off"
        if raw in ("off", "0", "none", ""):
            return None
        count, _, unit = raw.partition("/")
        seconds = {"second": 1.0, "s": 1.0, "minute": 60.0, "m": 60.0, "hour": 3600.0, "h": 3600.0}
        try:
            value = float(count)
        except ValueError:
            value = -1.0
        if value <= 0 or unit not in seconds:
            raise SettingsError(
                f"TASKLENS_RATE_LIMIT must look like 600/minute (per second, minute or hour), auto or off, "
                f"got {self.rate_limit!r}"
            )
        return value / seconds[unit]

    @property
    def data_path(self) -> Path:
        """Where the process keeps its own files, as an absolute path: TASKLENS_DATA_DIR, else the SQLite file's
        folder, else ~/.local/share/tasklens. Resolved once here, so a process started from another folder
        finds the same session key and report files."""
        if self.data_dir:
            return Path(self.data_dir).expanduser().resolve()
        path = self.sqlite_path
        if path is not None:
            return path.parent.resolve()
        return Path.home() / ".local" / "share" / "tasklens"

    @property
    def reports_path(self) -> Path:
        """The folder of report runs' files: TASKLENS_REPORTS_DIR, else DATA_DIR/reports (absolute)."""
        if self.reports_dir:
            return Path(self.reports_dir).expanduser().resolve()
        return self.data_path / "reports"

    @property
    def base_url(self) -> str:
        """Where people reach the dashboard, for links sent out of it (e-mails, webhooks)."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def redact_patterns(self) -> tuple[str, ...]:
        return parse_redact(self.redact)

    def retention(self) -> RetentionPolicy:
        """What retention prunes (db/lifecycle/retention.py), from the TASKLENS_*RETAIN* settings."""
        from db.lifecycle.retention import Policy as RetentionPolicy

        return RetentionPolicy(
            tasks_days=self.retain_days or None,
            events_days=self.compact_events_days or None,
            audit_days=self.audit_retain_days or None,
            report_runs_days=self.report_runs_retain_days or None,
            archive_dir=Path(self.archive_dir).expanduser().resolve() if self.archive_dir else None,
            batch=self.retain_batch,
        )

    def prices(self) -> dict[str, Price]:
        return load_prices(self.prices_file) if self.prices_file else dict(DEFAULT_PRICES)

    @property
    def sqlite_path(self) -> Path | None:
        if not self.database_url.startswith("sqlite"):
            return None
        return Path(self.database_url.split(":///", 1)[1])


def is_loopback(host: str) -> bool:
    """Whether a listening address is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False  # a host name other than localhost may resolve to anything
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


class MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping (os.environ, or a test's own)."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        self._given = env
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k.lower(): v for k, v in self._given.items() if v != ""}


def _named(exc: ValidationError, values: Mapping[str, Any]) -> SettingsError:
    """pydantic's first complaint as a sentence naming the variable, as the README's settings table does."""
    error = exc.errors(include_url=False)[0]
    field = str(error["loc"][0]) if error["loc"] else ""
    name = ENV_PREFIX + field.upper()
    raw = values.get(field)
    if error["type"].startswith("bool"):
        return SettingsError(f"{name} must be true or false, got {raw!r}")
    if error["type"].startswith(("int", "float")):
        return SettingsError(f"{name} must be a number, got {raw!r}")
    if error["type"] == "extra_forbidden":
        return SettingsError(f"{field} is not a setting")
    return SettingsError(f"{name}: {error['msg']}, got {raw!r}")
