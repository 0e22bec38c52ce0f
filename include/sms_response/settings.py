"""Settings, built once from the environment into a frozen dataclass."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sms_response.errors import ConfigError

_SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def project_home() -> Path:
    """The repository root (``SMS_RT_HOME`` overrides): where ``.local/`` lives."""
    env = os.environ.get("SMS_RT_HOME")
    if env:
        return Path(env).expanduser().resolve()
    # include/sms_response/settings.py → repository root
    return Path(__file__).resolve().parents[2]


def _default_local_dir() -> Path:
    return project_home() / ".local"


@dataclass(frozen=True)
class Settings:
    """Everything the library needs that differs between a laptop, CI and production.

    ``database_url`` None means "use the embedded PostgreSQL server under ``local_dir``".
    """

    database_url: str | None = None
    schema: str = "sms_rt"
    local_dir: Path = field(default_factory=_default_local_dir)
    landing_dir: Path | None = None
    default_region: str = "US"
    page_size: int = 1000
    part_max_events: int = 50_000
    mapping_path: Path | None = None

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

    @property
    def landing_root(self) -> Path:
        return self.landing_dir if self.landing_dir is not None else self.local_dir / "landing"

    @property
    def embedded_pgdata(self) -> Path:
        return self.local_dir / "pgdata"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        e = os.environ if env is None else env
        local = Path(e["SMS_RT_LOCAL_DIR"]).expanduser() if e.get("SMS_RT_LOCAL_DIR") else _default_local_dir()
        try:
            page_size = int(e.get("SMS_RT_PAGE_SIZE", "1000"))
            part_max = int(e.get("SMS_RT_PART_MAX_EVENTS", "50000"))
        except ValueError as exc:
            raise ConfigError(f"SMS_RT_PAGE_SIZE / SMS_RT_PART_MAX_EVENTS must be integers: {exc}") from exc
        return cls(
            database_url=e.get("SMS_RT_DATABASE_URL") or None,
            schema=e.get("SMS_RT_SCHEMA", "sms_rt"),
            local_dir=local,
            landing_dir=Path(e["SMS_RT_LANDING_DIR"]).expanduser() if e.get("SMS_RT_LANDING_DIR") else None,
            default_region=e.get("SMS_RT_DEFAULT_REGION", "US").upper(),
            page_size=page_size,
            part_max_events=part_max,
            mapping_path=Path(e["SMS_RT_MAPPING_FILE"]) if e.get("SMS_RT_MAPPING_FILE") else None,
        )
