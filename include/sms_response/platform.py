"""The SMS platform's event API: an ``EventSource`` protocol and its HTTP client.

The client pages by cursor over a publication-time window, with connect/read timeouts and
retries (tenacity) on 429, 5xx, connection errors and cut pages; a 429's ``Retry-After`` is
honoured. A 401/403 fails at once with a message that never contains the token.
"""

from __future__ import annotations

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

from sms_response.errors import PlatformAuthError, PlatformError
from sms_response.window import Window

log = logging.getLogger(__name__)


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


class EventApiClient:
    """HTTP client of ``GET /v1/events`` (see the simulator for the contract)."""

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
        return f"EventApiClient({self.base_url!r})"

    def close(self) -> None:
        self.session.close()

    def _fetch(self, params: dict[str, str]) -> tuple[dict[str, Any], int]:
        url = f"{self.base_url}/v1/events"
        try:
            resp = self.session.get(url, params=params, timeout=self.timeout)
            body = resp.content  # reading the body here surfaces a cut page as an error
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            raise RetryableError(f"transport error: {type(exc).__name__}") from exc
        if resp.status_code in (401, 403):
            raise PlatformAuthError(
                f"SMS platform refused the credentials (HTTP {resp.status_code}) at {url}; "
                "check the password/token of the sms_platform connection"
            )
        if resp.status_code == 429 or resp.status_code >= 500:
            raise RetryableError(
                f"HTTP {resp.status_code}", _retry_after_seconds(resp.headers.get("Retry-After"))
            )
        if resp.status_code != 200:
            raise PlatformError(f"HTTP {resp.status_code} from {url}: {resp.text[:300]}")
        try:
            doc = json.loads(body)
        except ValueError as exc:
            raise RetryableError(f"incomplete or invalid JSON page ({len(body)} bytes)") from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
            shape = sorted(doc)[:10] if isinstance(doc, dict) else type(doc).__name__
            raise PlatformError(f"unexpected page shape from {url}: {shape}")
        return doc, len(body)

    def _fetch_with_retry(self, params: dict[str, str]) -> tuple[dict[str, Any], int]:
        def before_sleep(state: RetryCallState) -> None:
            self.retries_done += 1
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "event API attempt %d failed (%s); retrying in %.1fs",
                state.attempt_number,
                exc,
                state.next_action.sleep if state.next_action else 0.0,
            )

        kwargs: dict[str, Any] = {}
        if self._sleep is not None:
            kwargs["sleep"] = self._sleep
        retrying = Retrying(
            stop=stop_after_attempt(self.retry.attempts),
            wait=_WaitRetryAfter(
                wait_exponential_jitter(initial=self.retry.backoff_initial, max=self.retry.backoff_max),
                self.retry.retry_after_cap,
            ),
            retry=retry_if_exception_type(RetryableError),
            before_sleep=before_sleep,
            reraise=True,
            **kwargs,
        )
        result: tuple[dict[str, Any], int] = retrying(self._fetch, params)
        return result

    def pages(
        self, window: Window, codes: Sequence[str] = (), mailings: Sequence[str] = (), page_size: int = 1000
    ) -> Iterator[Page]:
        params = {"start": window.start.isoformat(), "end": window.end.isoformat(), "limit": str(page_size)}
        if codes:
            params["codes"] = ",".join(codes)
        if mailings:
            params["mailings"] = ",".join(mailings)
        number = 0
        while True:
            doc, nbytes = self._fetch_with_retry(params)
            yield Page(number, doc["data"], nbytes)
            number += 1
            cursor = doc.get("next_cursor")
            if not cursor:
                return
            params = {**params, "cursor": str(cursor)}
