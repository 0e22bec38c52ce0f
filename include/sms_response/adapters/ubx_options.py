"""The UBX adapter's settings, read once from the ``sms_platform`` connection's extras.

Acoustic's published documentation names the flow (the toolkit's ``eventsDownload`` calls
``v1/eventfiles`` and downloads JSON event files, authenticated by the endpoint's key) but leaves open
how the list of event files pages and which attribute carries the campaign tool's unique mailing
name. Both, and the other shapes of the answer, are extras here (docs/platform-ubx.md lists them):

=================================  =====================  =============================================
extra                              default                meaning
=================================  =====================  =============================================
``ubx_list_path``                  ``/v1/eventfiles``     the endpoint's list of event files
``ubx_file_path``                  ``/v1/eventfiles/{fileName}``  one file (``{fileName}`` URL-quoted)
``ubx_paging``                     ``cursor``             ``cursor`` | ``offset`` | ``none``
``ubx_page_size``                  ``100``                list entries asked per request
``ubx_page_size_param``            ``limit``              its query parameter
``ubx_cursor_param``               ``cursor``             cursor paging: the query parameter …
``ubx_next_field``                 ``next``               … and the answer's field (a cursor or a URL)
``ubx_offset_param``               ``offset``             offset paging: the query parameter
``ubx_files_field``                ``eventFiles``         the answer's list (a bare list works too)
``ubx_name_field``                 ``fileName``           an entry's file name
``ubx_time_field``                 ``created``            an entry's publication time (ISO-8601 / epoch ms)
``ubx_size_field``                 ``size``               an entry's size in bytes (optional)
``ubx_url_field``                  ``url``                an entry's download URL (optional)
``ubx_mailing_attribute``          ``campaignName``       attribute holding the unique mailing name
``ubx_campaign_code_attribute``    (none)                 attribute holding the campaign code …
``ubx_campaign_code_pattern``      ``^([^_]+)_``          … else this regex's group 1 on the mailing name
``ubx_endpoint``                   the connection login   names the endpoint's ledger
``ubx_cache_dir``                  ``<landing>/.ubx``     where fetched files and the ledger are kept
``ubx_mapping_file``               (packaged)             another ``ubx_mapping.yaml``
=================================  =====================  =============================================
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sms_response.errors import ConfigError

PAGING_MODES = ("cursor", "offset", "none")
_TEXT_DEFAULTS = {
    "list_path": "/v1/eventfiles",
    "file_path": "/v1/eventfiles/{fileName}",
    "paging": "cursor",
    "page_size_param": "limit",
    "cursor_param": "cursor",
    "next_field": "next",
    "offset_param": "offset",
    "files_field": "eventFiles",
    "name_field": "fileName",
    "time_field": "created",
    "size_field": "size",
    "url_field": "url",
    "mailing_attribute": "campaignName",
    "campaign_code_attribute": "",
    "campaign_code_pattern": r"^([^_]+)_",
    "endpoint": "",
    "cache_dir": "",
    "mapping_file": "",
}
_NUMBER_DEFAULTS = {"page_size": 100, "timeout_connect": 5.0, "timeout_read": 60.0, "retries": 8}


@dataclass(frozen=True)
class UbxOptions:
    list_path: str
    file_path: str
    paging: str
    page_size: int
    page_size_param: str
    cursor_param: str
    next_field: str
    offset_param: str
    files_field: str
    name_field: str
    time_field: str
    size_field: str
    url_field: str
    mailing_attribute: str
    campaign_code_attribute: str
    campaign_code_pattern: re.Pattern[str] | None
    endpoint: str
    cache_dir: Path | None
    mapping_file: Path | None
    timeout: tuple[float, float]
    retries: int

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any], login: str = "") -> UbxOptions:
        # A misspelt ubx_* extra would silently fall back to its default: refuse it instead.
        unknown = sorted(k for k in extra if k.startswith("ubx_") and k[4:] not in _TEXT_DEFAULTS
                         and k[4:] != "page_size")
        if unknown:
            raise ConfigError(f"sms_platform connection (platform ubx): unknown extras {unknown}; "
                              "see docs/platform-ubx.md for the ubx_* settings")
        text = {name: _text(extra, f"ubx_{name}", default) for name, default in _TEXT_DEFAULTS.items()}
        if text["paging"] not in PAGING_MODES:
            raise ConfigError(f"extra ubx_paging must be one of {', '.join(PAGING_MODES)}, not {text['paging']!r}")
        for name in ("list_path", "file_path", "mailing_attribute", "name_field", "time_field"):
            if not text[name]:
                raise ConfigError(f"extra ubx_{name} must not be empty")
        if "{fileName}" not in text["file_path"]:
            raise ConfigError("extra ubx_file_path must contain the placeholder {fileName}")
        page_size = _number(extra, "ubx_page_size", _NUMBER_DEFAULTS["page_size"], int)
        timeout = (_number(extra, "timeout_connect", _NUMBER_DEFAULTS["timeout_connect"], float),
                   _number(extra, "timeout_read", _NUMBER_DEFAULTS["timeout_read"], float))
        retries = _number(extra, "retries", _NUMBER_DEFAULTS["retries"], int)
        if page_size < 1 or retries < 1 or min(timeout) <= 0:
            raise ConfigError("extras ubx_page_size and retries must be >= 1 and the timeouts > 0")
        return cls(
            **{k: v for k, v in text.items() if k not in (
                "campaign_code_pattern", "cache_dir", "mapping_file", "endpoint")},
            page_size=page_size,
            campaign_code_pattern=_pattern(text["campaign_code_pattern"]),
            endpoint=_endpoint(text["endpoint"] or login or "default"),
            cache_dir=Path(text["cache_dir"]) if text["cache_dir"] else None,
            mapping_file=Path(text["mapping_file"]) if text["mapping_file"] else None,
            timeout=timeout,
            retries=retries,
        )


def _text(extra: Mapping[str, Any], key: str, default: str) -> str:
    value = extra.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise ConfigError(f"extra {key} must be a string, not {type(value).__name__}")
    return value.strip()


def _number(extra: Mapping[str, Any], key: str, default: Any, kind: type[Any]) -> Any:
    value = extra.get(key, default)
    if isinstance(value, bool):
        raise ConfigError(f"extra {key} must be a number")
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"extra {key} must be a number, not {value!r}") from None


def _pattern(raw: str) -> re.Pattern[str] | None:
    if not raw:
        return None
    try:
        pattern = re.compile(raw)
    except re.error as exc:
        raise ConfigError(f"extra ubx_campaign_code_pattern is not a regular expression: {exc}") from exc
    if pattern.groups < 1:
        raise ConfigError("extra ubx_campaign_code_pattern needs a group: the campaign code is its group 1")
    return pattern


def _endpoint(raw: str) -> str:
    """A file-system-safe name for the endpoint's ledger (never derived from the secret key)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", raw).strip("._") or "default"
    return safe[:80]
