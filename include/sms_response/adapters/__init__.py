"""Event sources of real platforms, each turning its platform's published event format into the canonical envelopes
the importer reads (so import, validation, segments and reports do not change).

The ``sms_platform`` connection's extra ``platform`` chooses the adapter: ``simulator`` (the default: the
package's own event API, :class:`sms_response.platform.SmsPlatformClient`), or the name of a module of this
package (``ubx``, ``twilio``, ``braze``), which provides ``source_from_connection(conn: PlatformConnection)``
returning an :class:`~sms_response.platform.EventSource` that also has ``close()`` and ``base_url`` (a label for
the landing manifest; never a secret).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sms_response.errors import ConfigError
from sms_response.platform import EventSource

DEFAULT_PLATFORM = "simulator"
PLATFORMS = ("simulator", "ubx", "twilio", "braze")


@dataclass(frozen=True)
class PlatformConnection:
    """What an adapter needs of the ``sms_platform`` connection, Airflow-free. ``password`` is the secret."""

    platform: str
    base_url: str
    login: str = ""
    password: str = field(default="", repr=False)
    extra: Mapping[str, Any] = field(default_factory=dict)


class ClosableSource(EventSource, Protocol):
    base_url: str

    def close(self) -> None: ...


def platform_name(extra: Mapping[str, Any]) -> str:
    name = str(extra.get("platform") or DEFAULT_PLATFORM).strip().lower()
    if name not in PLATFORMS or not re.fullmatch(r"[a-z_]+", name):
        raise ConfigError(f"sms_platform connection: extra 'platform' must be one of {', '.join(PLATFORMS)}, "
                          f"not {name!r}")
    return name


def event_source(conn: PlatformConnection) -> ClosableSource:
    """The adapter of ``conn.platform`` (not the simulator's client: the hook builds that one)."""
    if conn.platform == DEFAULT_PLATFORM or conn.platform not in PLATFORMS:
        raise ConfigError(f"no adapter module for platform {conn.platform!r}")
    module = importlib.import_module(f"sms_response.adapters.{conn.platform}")
    source: ClosableSource = module.source_from_connection(conn)
    return source
