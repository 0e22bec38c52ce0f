"""HTTP side of the UBX adapter: list an endpoint's event files, download one, with retries.

Every call carries the endpoint's authentication key as ``Authorization: Bearer <key>`` (Acoustic:
"the authentication key must appear in the HTTP header of the API call"); a 401/403 fails at once
with a message that never contains the key. 429 (honouring ``Retry-After``), 5xx, connection errors,
cut bodies and answers that are not JSON are retried with exponential backoff (tenacity).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urljoin

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from sms_response.adapters.ubx_convert import UbxFileError, parse_event_file
from sms_response.adapters.ubx_options import UbxOptions
from sms_response.errors import PlatformAuthError, PlatformError
from sms_response.platform import RetryableError

log = logging.getLogger(__name__)
MAX_LIST_PAGES = 100_000
RETRY_AFTER_CAP = 120.0


@dataclass(frozen=True)
class Listed:
    """One entry of the endpoint's list of event files."""

    name: str
    created: datetime
    size: int | None = None
    url: str | None = None


class FileGone(PlatformError):
    """The server no longer has a file it listed (404 / 410)."""


def parse_time(value: Any, where: str) -> datetime:
    """An entry's publication time: ISO-8601 (a time without offset is read as UTC) or epoch milliseconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)
    if isinstance(value, str) and value.strip():
        try:
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC)
    raise PlatformError(f"{where}: publication time {value!r} is neither ISO-8601 nor epoch milliseconds")


class UbxHttp:
    """The endpoint's two calls, over one ``requests.Session``."""

    def __init__(self, base_url: str, auth_key: str, options: UbxOptions,
                 *, session: requests.Session | None = None, sleep: Callable[[float], None] | None = None) -> None:
        if not auth_key:
            raise PlatformAuthError("no authentication key for the UBX endpoint: set the sms_platform connection's "
                                    "password to the endpoint's authentication key")
        self.base_url = base_url.rstrip("/")
        self.options = options
        self.session = session or requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {auth_key}", "Accept": "application/json"})
        self._sleep = sleep
        self.retries_done = 0

    def __repr__(self) -> str:  # never show the key
        return f"UbxHttp({self.base_url!r})"

    def close(self) -> None:
        self.session.close()

    def _url(self, path_or_url: str) -> str:
        return urljoin(self.base_url + "/", path_or_url.lstrip("/")) if "://" not in path_or_url else path_or_url

    def _get(self, url: str, params: dict[str, str] | None) -> tuple[bytes, bool]:
        """The body, and whether it came content-encoded (then its length is not the file's size)."""
        try:
            resp = self.session.get(url, params=params, timeout=self.options.timeout)
            content = resp.content  # reading the body here surfaces a cut answer as an error
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            raise RetryableError(f"transport error: {type(exc).__name__}") from exc
        if resp.status_code in (401, 403):
            raise PlatformAuthError(f"the UBX endpoint refused the authentication key (HTTP {resp.status_code}) at "
                                    f"{resp.url.split('?')[0]}; check the sms_platform connection's password")
        if resp.status_code in (404, 410):
            raise FileGone(f"HTTP {resp.status_code} from {resp.url.split('?')[0]}")
        if resp.status_code == 429 or resp.status_code >= 500:
            raise RetryableError(f"HTTP {resp.status_code}", _seconds(resp.headers.get("Retry-After")))
        if resp.status_code != 200:
            raise PlatformError(f"HTTP {resp.status_code} from GET {resp.url.split('?')[0]}: {resp.text[:300]}")
        return content, bool(resp.headers.get("Content-Encoding"))

    def _retrying(self, fn: Callable[[], Any]) -> Any:
        def before_sleep(state: RetryCallState) -> None:
            self.retries_done += 1
            exc = state.outcome.exception() if state.outcome else None
            log.warning("UBX endpoint attempt %d failed (%s); retrying in %.1fs", state.attempt_number, exc,
                        state.next_action.sleep if state.next_action else 0.0)

        backoff = wait_exponential_jitter(initial=0.5, max=30.0)

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, RetryableError) and exc.retry_after is not None:
                return min(exc.retry_after, RETRY_AFTER_CAP)
            return float(backoff(state))

        extra: dict[str, Any] = {"sleep": self._sleep} if self._sleep is not None else {}
        retrying = Retrying(stop=stop_after_attempt(self.options.retries), wait=wait, reraise=True,
                            retry=retry_if_exception_type(RetryableError), before_sleep=before_sleep, **extra)
        return retrying(fn)

    # -- the list ------------------------------------------------------------------------------------

    def _list_page(self, url: str, params: dict[str, str] | None) -> Any:
        def fetch() -> Any:
            try:
                body, _ = self._get(url, params)
            except FileGone as exc:
                raise PlatformError(f"the UBX list of event files is not there ({exc}); check the extra "
                                    "ubx_list_path and the connection's host") from exc
            try:
                return json.loads(body)
            except ValueError as exc:
                raise RetryableError(f"incomplete or invalid JSON list of event files ({len(body)} bytes)") from exc

        return self._retrying(fetch)

    def list_files(self) -> Iterator[Listed]:
        """Every entry of the list, page after page (duplicates included: the caller merges them)."""
        o = self.options
        url = self._url(o.list_path)
        params: dict[str, str] | None = {o.page_size_param: str(o.page_size)} if o.paging != "none" else None
        offset = 0
        seen_cursors: set[str] = set()
        for _ in range(MAX_LIST_PAGES):
            doc = self._list_page(url, params)
            entries = self._entries(doc)
            yield from (self._listed(e) for e in entries)
            if o.paging == "none":
                return
            if o.paging == "offset":
                if len(entries) < o.page_size:
                    return
                offset += len(entries)
                params = {o.page_size_param: str(o.page_size), o.offset_param: str(offset)}
                continue
            nxt = doc.get(o.next_field) if isinstance(doc, dict) else None
            if not nxt:
                return
            nxt = str(nxt)
            if nxt in seen_cursors:
                raise PlatformError(f"the UBX list of event files repeats its cursor {nxt[:40]!r}; "
                                    "check the extras ubx_paging / ubx_next_field")
            seen_cursors.add(nxt)
            if "://" in nxt or nxt.startswith("/"):
                url, params = self._url(nxt), None  # a link to the next page
            else:
                params = {o.page_size_param: str(o.page_size), o.cursor_param: nxt}
        raise PlatformError(f"the UBX list of event files did not end after {MAX_LIST_PAGES} pages")

    def _entries(self, doc: Any) -> list[Any]:
        entries = doc if isinstance(doc, list) else doc.get(self.options.files_field) if isinstance(doc, dict) else None
        if not isinstance(entries, list):
            keys = sorted(doc)[:10] if isinstance(doc, dict) else type(doc).__name__
            raise PlatformError(f"the UBX list of event files has no list {self.options.files_field!r} "
                                f"(found {keys}); check the extra ubx_files_field")
        return entries

    def _listed(self, entry: Any) -> Listed:
        o = self.options
        name = entry.get(o.name_field) if isinstance(entry, dict) else entry if isinstance(entry, str) else None
        if not isinstance(name, str) or not name:
            raise PlatformError(f"an entry of the UBX list of event files has no {o.name_field!r}: {str(entry)[:200]}")
        created = parse_time(entry.get(o.time_field) if isinstance(entry, dict) else None, f"event file {name}")
        size = entry.get(o.size_field) if isinstance(entry, dict) else None
        url = entry.get(o.url_field) if isinstance(entry, dict) else None
        return Listed(name, created, size if isinstance(size, int) and not isinstance(size, bool) else None,
                      url if isinstance(url, str) and url else None)

    # -- one file ------------------------------------------------------------------------------------

    def download(self, listed: Listed) -> bytes:
        """The file's bytes, retried until they are complete (listed size, parseable JSON)."""
        url = self._url(listed.url or self.options.file_path.replace("{fileName}", quote(listed.name, safe="")))

        def fetch() -> bytes:
            body, encoded = self._get(url, None)
            if listed.size is not None and not encoded and len(body) != listed.size:
                raise RetryableError(f"event file {listed.name}: {len(body)} bytes, the list says {listed.size}")
            try:
                parse_event_file(body)
            except UbxFileError as exc:
                raise RetryableError(f"event file {listed.name}: {exc}") from exc
            return body

        try:
            result: bytes = self._retrying(fetch)
        except FileGone as exc:
            raise FileGone(f"event file {listed.name} was listed but is gone ({exc})") from exc
        return result


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to backoff
