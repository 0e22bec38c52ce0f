"""The SMS platform's event API: an ``EventSource`` protocol and its HTTP client.

The client pages by cursor over a publication-time window, with connect/read timeouts and
retries (tenacity) on 429, 5xx, connection errors and cut pages; a 429's ``Retry-After`` is
honoured. A 401/403 fails at once with a message that never contains the token. When the retries
run out, the error names the page, the window and the last failure (status, timeout, reset); a
platform that keeps answering the same cursor is given up on instead of paged forever.
"""

from __future__ import annotations

import http.client
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from sms_response.errors import PlatformAuthError, PlatformError, PlatformUnavailable
from sms_response.window import Window

log = logging.getLogger(__name__)

# A platform that answers the same next_cursor this many times in a row is not advancing (a duplicated page
# now and then is tolerated: its events are de-duplicated by the import).
MAX_SAME_CURSOR = 10


@dataclass(frozen=True)
class Page:
    number: int
    envelopes: list[Any]
    raw_bytes: int


class EventSource(Protocol):
    """Anything that yields a window's envelopes page by page (Twilio, Braze Currents, … later)."""

    def pages(
        self, window: Window, codes: Sequence[str] = (), mailings: Sequence[str] = (), page_size: int = 1000
    ) -> Iterator[Page]: ...


class RetryableError(PlatformError):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def causes_of(exc: BaseException, depth: int = 6) -> list[BaseException]:
    """The exception, its causes and the exceptions in its args (requests wraps urllib3's, which wraps OSError)."""
    found: list[BaseException] = []
    todo: list[tuple[BaseException, int]] = [(exc, 0)]
    while todo:
        e, d = todo.pop()
        if any(e is f for f in found) or d > depth:
            continue
        found.append(e)
        todo += [(x, d + 1) for x in (e.__cause__, e.__context__, *e.args) if isinstance(x, BaseException)]
    return found


def describe_transport_error(exc: BaseException, timeout: tuple[float, float]) -> str:
    """What went wrong on the wire, in words (the exception class alone says little to a user)."""
    causes = causes_of(exc)
    if isinstance(exc, requests.ConnectTimeout):
        what = f"could not connect within the connect timeout of {timeout[0]:g} s"
    elif isinstance(exc, requests.ReadTimeout):
        what = f"no answer within the read timeout of {timeout[1]:g} s"
    elif any(isinstance(c, ConnectionResetError) for c in causes):
        what = "the platform reset the connection"
    elif any(isinstance(c, http.client.RemoteDisconnected) for c in causes):
        what = "the platform closed the connection without answering"
    elif isinstance(exc, requests.exceptions.ChunkedEncodingError) or any(
            isinstance(c, http.client.IncompleteRead) for c in causes):
        what = "the answer was cut off before its end"
    elif any(isinstance(c, ConnectionRefusedError) for c in causes):
        what = "the connection was refused"
    else:
        what = "transport error"
    return f"{what} ({type(exc).__name__})"


def _retry_after_seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP-date: fall back to backoff rather than parse clocks


class _WaitRetryAfter:
    """Wait what the server asked for (capped), else exponential backoff with jitter."""

    def __init__(self, fallback: Callable[[RetryCallState], float], cap: float) -> None:
        self.fallback = fallback
        self.cap = cap

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableError) and exc.retry_after is not None:
            return min(exc.retry_after, self.cap)
        return self.fallback(state)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 8
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    retry_after_cap: float = 120.0


class SmsPlatformClient:
    """HTTP client of the platform: ``GET /v1/events`` plus the push side (see the simulator for the contract)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: tuple[float, float] = (5.0, 60.0),
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if not token:
            raise PlatformAuthError("no API token configured for the SMS platform connection")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.session = session or requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})
        self._sleep = sleep
        self.retries_done = 0

    def __repr__(self) -> str:  # never show the token
        return f"SmsPlatformClient({self.base_url!r})"

    def close(self) -> None:
        self.session.close()

    def _request(
        self, method: str, path: str, *, params: dict[str, str] | None = None, body: Any = None
    ) -> tuple[dict[str, Any], int]:
        url = f"{self.base_url}{path}"
        try:
            resp = self.session.request(method, url, params=params, json=body, timeout=self.timeout)
            content = resp.content  # reading the body here surfaces a cut page as an error
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            raise RetryableError(describe_transport_error(exc, self.timeout)) from exc
        if resp.status_code in (401, 403):
            raise PlatformAuthError(
                f"SMS platform refused the credentials (HTTP {resp.status_code}) at {url}; "
                "check the password/token of the sms_platform connection"
            )
        if resp.status_code == 429 or resp.status_code >= 500:
            retry_after = resp.headers.get("Retry-After")
            raise RetryableError(
                f"HTTP {resp.status_code} {resp.reason or ''}".rstrip()
                + (f" (Retry-After: {retry_after})" if retry_after is not None else ""),
                _retry_after_seconds(retry_after),
            )
        if resp.status_code not in (200, 201):
            raise PlatformError(f"HTTP {resp.status_code} from {method} {url}: {resp.text[:300]}")
        try:
            doc = json.loads(content)
        except ValueError as exc:
            raise RetryableError(f"incomplete or invalid JSON answer ({len(content)} bytes)") from exc
        if not isinstance(doc, dict):
            raise PlatformError(f"unexpected answer from {url}: {type(doc).__name__}")
        return doc, len(content)

    def _fetch(self, params: dict[str, str]) -> tuple[dict[str, Any], int]:
        doc, nbytes = self._request("GET", "/v1/events", params=params)
        if not isinstance(doc.get("data"), list):
            raise PlatformError(f"unexpected page shape from {self.base_url}/v1/events: {sorted(doc)[:10]}")
        return doc, nbytes

    def _fetch_with_retry(self, params: dict[str, str]) -> tuple[dict[str, Any], int]:
        return self._with_retry(self._fetch, params)

    def _with_retry(self, fn: Callable[..., tuple[dict[str, Any], int]], *args: Any, **kwargs: Any) -> tuple[
        dict[str, Any], int
    ]:
        def before_sleep(state: RetryCallState) -> None:
            self.retries_done += 1
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "platform API attempt %d failed (%s); retrying in %.1fs",
                state.attempt_number,
                exc,
                state.next_action.sleep if state.next_action else 0.0,
            )

        options: dict[str, Any] = {}
        if self._sleep is not None:
            options["sleep"] = self._sleep
        retrying = Retrying(
            stop=stop_after_attempt(self.retry.attempts),
            wait=_WaitRetryAfter(
                wait_exponential_jitter(initial=self.retry.backoff_initial, max=self.retry.backoff_max),
                self.retry.retry_after_cap,
            ),
            retry=retry_if_exception_type(RetryableError),
            before_sleep=before_sleep,
            reraise=True,
            **options,
        )
        result: tuple[dict[str, Any], int] = retrying(fn, *args, **kwargs)
        return result

    def pages(
        self, window: Window, codes: Sequence[str] = (), mailings: Sequence[str] = (), page_size: int = 1000
    ) -> Iterator[Page]:
        params = {"start": window.start.isoformat(), "end": window.end.isoformat(), "limit": str(page_size)}
        if codes:
            params["codes"] = ",".join(codes)
        if mailings:
            params["mailings"] = ",".join(mailings)
        number = same_cursor = 0
        while True:
            try:
                doc, nbytes = self._fetch_with_retry(params)
            except RetryableError as exc:
                raise PlatformUnavailable(
                    f"GET {self.base_url}/v1/events gave up on page {number + 1} of window {window.id} after "
                    f"{self.retry.attempts} attempt(s); the last failed with {exc}"
                    + (f" ({number} page(s) before it were fetched)" if number else "")
                ) from exc
            yield Page(number, doc["data"], nbytes)
            number += 1
            cursor = doc.get("next_cursor")
            if not cursor:
                return
            same_cursor = same_cursor + 1 if str(cursor) == params.get("cursor") else 0
            if same_cursor >= MAX_SAME_CURSOR:
                raise PlatformError(
                    f"GET {self.base_url}/v1/events answered the same next_cursor {same_cursor} times in a row at "
                    f"page {number} of window {window.id}: the platform is not advancing; giving up"
                )
            params = {**params, "cursor": str(cursor)}

    # -- push side: contact update imports, batch sends, delivery status ----------------------------------
    # Every call below is safe to retry: an import re-sent after a lost answer only updates the same
    # profiles again, and sends carry per-message idempotency keys the platform de-duplicates on.

    def contact_fields(self) -> dict[str, list[str]]:
        doc, _ = self._with_retry(self._request, "GET", "/v1/contacts/fields")
        return {"system": [str(f) for f in doc.get("system", [])], "custom": [str(f) for f in doc.get("custom", [])]}

    def start_contact_import(
        self, file_b64: str, column_mappings: list[dict[str, Any]], *, has_header: bool = True
    ) -> str:
        body = {"import_type": "UpdateSubscribers", "file_stream": file_b64, "column_mappings": column_mappings,
                "has_header": has_header}
        doc, _ = self._with_retry(self._request, "POST", "/v1/contacts/imports", body=body)
        return str(doc["resource_id"])

    def contact_import_status(self, resource_id: str) -> dict[str, Any]:
        doc, _ = self._with_retry(self._request, "GET", f"/v1/contacts/imports/{resource_id}")
        return doc

    def send_batch(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        doc, _ = self._with_retry(self._request, "POST", "/v1/messages/batch", body={"messages": messages})
        results = doc.get("results")
        if not isinstance(results, list) or len(results) != len(messages):
            raise PlatformError(f"batch send answered {type(results).__name__} for {len(messages)} messages")
        return [dict(r) for r in results]

    def message_statuses(self, message_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        doc, _ = self._with_retry(self._request, "POST", "/v1/messages/status", body={"message_ids": list(message_ids)})
        statuses = doc.get("statuses")
        if not isinstance(statuses, dict):
            raise PlatformError("message status answer has no statuses object")
        return {str(k): dict(v) for k, v in statuses.items()}

    # -- consent: the platform's opt-status export ------------------------------------------------------------

    def opt_status(self, page_size: int = 1000) -> Iterator[dict[str, Any]]:
        """Every subscriber of ``GET /v1/subscribers/opt-status`` (paged by cursor): phone, contact_id, status,
        opted_in_at, opted_out_at."""
        params = {"limit": str(page_size)}
        while True:
            doc, _ = self._with_retry(self._request, "GET", "/v1/subscribers/opt-status", params=params)
            data = doc.get("data")
            if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
                raise PlatformError(f"unexpected opt-status page from {self.base_url}: {sorted(doc)[:10]}")
            yield from (dict(d) for d in data)
            cursor = doc.get("next_cursor")
            if not cursor:
                return
            params = {**params, "cursor": str(cursor)}
