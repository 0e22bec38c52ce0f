"""Acoustic Exchange (UBX) as an event source: the UBX toolkit's ``eventsDownload`` flow, window by window.

1. List the endpoint's event files (``GET v1/eventfiles``, paged as the extras say: ``ubx_options``).
   A name listed twice counts once, at its earliest publication time; every listed file is entered in
   the ledger (``ubx_ledger``) at its first sighting, which fixes its window for good.
2. Take the window's files from the ledger (publication time in ``[start, end)``), in (time, name) order.
3. Read each from the ledger's kept copy, else download it (``ubx_http``) and keep it.
4. Map every event notification to a canonical envelope (``ubx_convert`` with ``ubx_mapping.yaml``).

A rerun of a window reads the same files in the same order, whether or not the server still has them,
so it lands the same bytes. Which window a file belongs to is decided by its publication time on the
list, the same publication-time rule as the event API's windows.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sms_response.adapters import PlatformConnection
from sms_response.adapters.ubx_convert import Converter, UbxFileError, load_ubx_mapping, parse_event_file
from sms_response.adapters.ubx_http import Listed, UbxHttp
from sms_response.adapters.ubx_ledger import Ledger, LedgerEntry
from sms_response.adapters.ubx_options import UbxOptions
from sms_response.errors import PlatformError
from sms_response.platform import Page
from sms_response.settings import Settings
from sms_response.window import Window

log = logging.getLogger(__name__)
CACHE_DIR = ".ubx"


def ledger_name(base_url: str, endpoint: str) -> str:
    """The ledger's folder: the server and the endpoint's name (never the secret key)."""
    parts = urlsplit(base_url)
    server = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{parts.netloc}{parts.path}").strip("._") or "server"
    return f"{server}-{endpoint}"


def source_from_connection(
    conn: PlatformConnection, *, landing_root: Path | None = None, sleep: Callable[[float], None] | None = None
) -> UbxEventSource:
    """The adapter for the ``sms_platform`` connection (``password`` = the endpoint's authentication key);
    the ledger lives under ``landing_root`` (default: the settings' landing root) unless ``ubx_cache_dir``
    says otherwise. ``sleep`` replaces the wait between retries (tests)."""
    options = UbxOptions.from_extra(conn.extra, conn.login)
    converter = Converter(load_ubx_mapping(options), options)
    root = options.cache_dir or (landing_root or Settings.from_env().landing_root) / CACHE_DIR
    ledger = Ledger(root / ledger_name(conn.base_url, options.endpoint))
    return UbxEventSource(UbxHttp(conn.base_url, conn.password, options, sleep=sleep), ledger, converter)


def _mailings(envelope: Any) -> set[str]:
    out: set[str] = set()
    for event in envelope.get("events") or ():
        attrs = event.get("attributes") if isinstance(event, dict) else None
        if isinstance(attrs, list):
            out.update(a["value"] for a in attrs if isinstance(a, dict) and a.get("name") == "mailingName"
                       and isinstance(a.get("value"), str))
    return out


def wanted(envelope: Any, codes: Sequence[str], mailings: Sequence[str]) -> bool:
    """Whether a window narrowed to ``codes`` / ``mailings`` takes the envelope. An envelope whose events
    cannot be read is no event of any code or mailing, so a narrowed window leaves it out."""
    if not codes and not mailings:
        return True
    events = envelope.get("events") if isinstance(envelope, dict) else None
    if not isinstance(events, list):
        return False
    if codes and not {e.get("code") for e in events if isinstance(e, dict)} & set(codes):
        return False
    return not mailings or bool(_mailings(envelope) & set(mailings))


class UbxEventSource:
    """An ``EventSource`` over one UBX subscriber endpoint; ``close()`` ends its HTTP session."""

    def __init__(self, http: UbxHttp, ledger: Ledger, converter: Converter) -> None:
        self.http = http
        self.ledger = ledger
        self.converter = converter
        self.base_url = http.base_url
        self.files_downloaded = 0
        self.files_from_ledger = 0

    def __repr__(self) -> str:
        return f"UbxEventSource({self.base_url!r})"

    @property
    def retries_done(self) -> int:
        return self.http.retries_done

    def close(self) -> None:
        self.http.close()

    def listing(self) -> dict[str, Listed]:
        """The server's files by name (earliest listing of a name), each entered in the ledger."""
        listed: dict[str, Listed] = {}
        for item in self.http.list_files():
            prev = listed.get(item.name)
            if prev is not None and prev.size is not None and item.size is not None and prev.size != item.size:
                log.warning("UBX event file %s is listed with two sizes (%d, %d)", item.name, prev.size, item.size)
            if prev is None or item.created < prev.created:
                listed[item.name] = item
        for item in listed.values():
            self.ledger.register(item.name, item.created, item.size)
        return listed

    def _content(self, entry: LedgerEntry, listed: Listed | None) -> tuple[list[Any], int]:
        raw = self.ledger.cached(entry.name)
        if raw is not None:
            try:
                notifications = parse_event_file(raw)
            except UbxFileError as exc:
                log.warning("kept copy of UBX event file %s is not readable (%s); fetching it again", entry.name, exc)
            else:
                if listed is not None and listed.size is not None and entry.size not in (None, listed.size):
                    log.warning("UBX event file %s is listed again with %d bytes; keeping the %s bytes fetched "
                                "first (a file's name stands for its content)", entry.name, listed.size, entry.size)
                self.files_from_ledger += 1
                return notifications, 0
        if listed is None:
            raise PlatformError(
                f"UBX event file {entry.name} (published {entry.created.isoformat()}) was listed before but is "
                f"neither kept in {self.ledger.root} nor listed by the endpoint any more; it cannot be fetched")
        raw = self.http.download(listed)
        self.ledger.keep(entry.name, raw)
        self.files_downloaded += 1
        return parse_event_file(raw), len(raw)

    def pages(
        self, window: Window, codes: Sequence[str] = (), mailings: Sequence[str] = (), page_size: int = 1000
    ) -> Iterator[Page]:
        """One page per event file of the window (a file past ``page_size`` envelopes is split)."""
        listed = self.listing()
        entries = self.ledger.entries_between(window.start, window.end)
        log.info("window %s: %d UBX event file(s) (%d listed by the endpoint now)", window.id, len(entries),
                 len(listed))
        number = 0
        for entry in entries:
            notifications, nbytes = self._content(entry, listed.get(entry.name))
            envelopes = [e for e in map(self.converter.envelope, notifications) if wanted(e, codes, mailings)]
            for i in range(0, max(len(envelopes), 1), page_size):
                yield Page(number, envelopes[i:i + page_size], nbytes if i == 0 else 0)
                number += 1
        log.info("window %s: %d file(s) downloaded, %d read from the ledger", window.id, self.files_downloaded,
                 self.files_from_ledger)
