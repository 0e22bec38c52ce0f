"""Settings: every ``SMS_RT_*`` variable is read here, once per process step, into frozen dataclasses.

Nothing else in the library reads the environment: functions take a ``Settings`` (or the one
value they need) from their caller. Tasks build it once at their start (``sms_rt_airflow.hooks``),
CLIs once in ``main``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

from sms_response.errors import ConfigError

_SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def project_home(env: Mapping[str, str] | None = None) -> Path:
    """The repository root (``SMS_RT_HOME`` overrides): where ``.local/`` lives."""
    value = (os.environ if env is None else env).get("SMS_RT_HOME")
    if value:
        return Path(value).expanduser().resolve()
    # include/sms_response/settings.py → repository root
    return Path(__file__).resolve().parents[2]


def _default_local_dir() -> Path:
    return project_home() / ".local"


@dataclass(frozen=True)
class QualityConfig:
    """Thresholds of the quality gate (``SMS_RT_LATENESS_HOURS``, ``SMS_RT_MAX_REJECT_RATE``, …)."""

    lateness_allowance: timedelta = timedelta(hours=24)
    max_reject_rate: float = 0.05
    max_conflict_rate: float = 0.05
    max_interactions_per_send: float = 5.0
    data_docs_dir: Path | None = None


@dataclass(frozen=True)
class Settings:
    """Everything the library needs that differs between a laptop, CI and production.

    ``database_url`` None means "use the embedded PostgreSQL server under ``local_dir``" (unless an
    Airflow connection ``sms_rt_postgres`` exists: the hook decides that).
    """

    database_url: str | None = None
    schema: str = "sms_rt"
    local_dir: Path = field(default_factory=_default_local_dir)
    landing_dir: Path | None = None
    default_region: str = "US"
    page_size: int = 1000
    part_max_events: int = 50_000
    # The import's DuckDB fast path (SMS_RT_IMPORT_FAST_PATH=0 leaves every record to the Python normaliser).
    import_fast_path: bool = True
    mapping_path: Path | None = None
    quality: QualityConfig = field(default_factory=QualityConfig)
    flowchart_drop_dir: Path | None = None
    # Wave audiences: saved queries (<name>.sql) and list files.
    query_dir: Path | None = None
    audience_dir: Path | None = None
    # Campaign metrics: the response window (as the segments' default) and credits per message part.
    response_window_hours: int = 72
    credits_per_part_gsm7: Decimal = Decimal(1)
    credits_per_part_ucs2: Decimal = Decimal(1)

    def __post_init__(self) -> None:
        if not _SCHEMA_RE.match(self.schema):
            raise ConfigError(
                f"SMS_RT_SCHEMA={self.schema!r} is not a plain lower-case PostgreSQL identifier "
                "(letters, digits, underscore; at most 63 characters)"
            )
        if len(self.default_region) != 2 or not self.default_region.isalpha():
            raise ConfigError(f"SMS_RT_DEFAULT_REGION={self.default_region!r} must be a two-letter region code")
        if self.page_size < 1 or self.page_size > 5000:
            raise ConfigError(f"SMS_RT_PAGE_SIZE={self.page_size} must be between 1 and 5000")
        if not 1 <= self.response_window_hours <= 720:
            raise ConfigError(f"SMS_RT_RESPONSE_WINDOW_HOURS={self.response_window_hours} must be between 1 and 720")
        if self.credits_per_part_gsm7 < 0 or self.credits_per_part_ucs2 < 0:
            raise ConfigError("SMS_RT_CREDITS_PER_PART_GSM7 / SMS_RT_CREDITS_PER_PART_UCS2 must not be negative")

    @property
    def landing_root(self) -> Path:
        return self.landing_dir if self.landing_dir is not None else self.local_dir / "landing"

    @property
    def embedded_pgdata(self) -> Path:
        return self.local_dir / "pgdata"

    @property
    def data_docs_dir(self) -> Path:
        return self.quality.data_docs_dir or self.local_dir / "data_docs"

    @property
    def drop_dir(self) -> Path:
        """The flowchart triggers' drop folder."""
        return self.flowchart_drop_dir or self.local_dir / "flowchart_drop"

    @property
    def saved_query_dir(self) -> Path:
        """Saved audience queries, ``<name>.sql`` each."""
        return self.query_dir or self.local_dir / "queries"

    @property
    def audience_list_dir(self) -> Path:
        """The drop folder of audience list files (CSV)."""
        return self.audience_dir or self.local_dir / "audience_drop"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        e = os.environ if env is None else env

        def path(name: str) -> Path | None:
            return Path(e[name]).expanduser() if e.get(name) else None

        def number(name: str, default: str, kind: type[int] | type[float]) -> float:
            try:
                return kind(e.get(name, default))
            except ValueError as exc:
                what = "sizes and counts must be integers" if kind is int else "it must be a number"
                raise ConfigError(f"{name}={e.get(name)!r} is not valid: {what}") from exc

        def flag(name: str, default: bool) -> bool:
            raw = e.get(name, "").strip().lower()
            if not raw:
                return default
            if raw in ("1", "true", "yes", "on"):
                return True
            if raw in ("0", "false", "no", "off"):
                return False
            raise ConfigError(f"{name}={e.get(name)!r} is not valid: use 1/0, true/false, yes/no or on/off")

        def decimal(name: str) -> Decimal:
            # Exact, as written ("1", "0.75"): a float would turn 1 credit into 1.0 and change every figure's text.
            try:
                value = Decimal(e.get(name, "1").strip())
            except InvalidOperation as exc:
                raise ConfigError(f"{name}={e.get(name)!r} is not valid: it must be a number") from exc
            if not value.is_finite():
                raise ConfigError(f"{name}={e.get(name)!r} is not valid: it must be a finite number")
            return value

        local = path("SMS_RT_LOCAL_DIR") or (project_home(e) / ".local")
        return cls(
            database_url=e.get("SMS_RT_DATABASE_URL") or None,
            schema=e.get("SMS_RT_SCHEMA", "sms_rt"),
            local_dir=local,
            landing_dir=path("SMS_RT_LANDING_DIR"),
            default_region=e.get("SMS_RT_DEFAULT_REGION", "US").upper(),
            page_size=int(number("SMS_RT_PAGE_SIZE", "1000", int)),
            part_max_events=int(number("SMS_RT_PART_MAX_EVENTS", "50000", int)),
            import_fast_path=flag("SMS_RT_IMPORT_FAST_PATH", True),
            mapping_path=path("SMS_RT_MAPPING_FILE"),
            quality=QualityConfig(
                lateness_allowance=timedelta(hours=number("SMS_RT_LATENESS_HOURS", "24", float)),
                max_reject_rate=number("SMS_RT_MAX_REJECT_RATE", "0.05", float),
                max_conflict_rate=number("SMS_RT_MAX_CONFLICT_RATE", "0.05", float),
                max_interactions_per_send=number("SMS_RT_MAX_INTERACTIONS_PER_SEND", "5", float),
                data_docs_dir=path("SMS_RT_DATA_DOCS_DIR") or local / "data_docs",
            ),
            flowchart_drop_dir=path("SMS_RT_FLOWCHART_DROP_DIR"),
            query_dir=path("SMS_RT_QUERY_DIR"),
            audience_dir=path("SMS_RT_AUDIENCE_DIR"),
            response_window_hours=int(number("SMS_RT_RESPONSE_WINDOW_HOURS", "72", int)),
            credits_per_part_gsm7=decimal("SMS_RT_CREDITS_PER_PART_GSM7"),
            credits_per_part_ucs2=decimal("SMS_RT_CREDITS_PER_PART_UCS2"),
        )
