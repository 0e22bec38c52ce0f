"""Fault switches for tests: failing event-API pages, and the gates that hold a page or a batch send.

Each request for a ``GET /v1/events`` page is decided with an RNG seeded from
``(fault_seed, page key, attempt number for that page)``, so a replayed client
sees the same sequence of failures.  ``max_faults_per_page`` bounds consecutive
failures of one page; that guarantees a client with enough retries finishes.
A slow answer is not a failure: it can be combined with any outcome.

Fault kinds: ``429`` (with ``Retry-After``), ``5xx``, ``cut`` (half a body), ``reset`` (the TCP
connection is reset before any byte of an answer, as a load balancer dropping it does) and ``dup``
(a duplicated page: the page is answered but its ``next_cursor`` does not advance, so the client is
handed the same page again; never on a window's first page, which has no cursor to repeat).

The page gate (``PageGate``) holds the next ``GET /v1/events`` page once K pages were answered, so a
test can kill a client in the middle of a download at a known point.

The send gate (``SendGate``) lets a test freeze a ``POST /v1/messages/batch``
half way, as if the client died while the platform was still working through
its request: once armed, the batch being processed is held after K more
accepted messages until the gate is released.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from random import Random
from typing import Any, Literal

from .errors import PushError

FaultKind = Literal["429", "5xx", "cut", "reset", "dup"]
# "drop": half the body then the connection is dropped (client: incomplete read,
# requests' ChunkedEncodingError).  "truncate": a complete response whose body is
# half a JSON document (client: invalid JSON).  Real outages produce both.
CutMode = Literal["drop", "truncate"]
FAULT_STATUSES_5XX: tuple[int, ...] = (500, 502, 503)


@dataclass(frozen=True)
class FaultConfig:
    rate_429: float = 0.0
    retry_after: int = 1  # seconds, sent in the Retry-After header
    rate_5xx: float = 0.0
    rate_slow: float = 0.0
    slow_seconds: float = 2.0
    rate_cut: float = 0.0
    max_faults_per_page: int = 2
    fault_seed: int = 0
    # Appended after the older fields so a config without them decides exactly as before.
    rate_reset: float = 0.0
    rate_dup: float = 0.0

    def __post_init__(self) -> None:
        for name in ("rate_429", "rate_5xx", "rate_slow", "rate_cut", "rate_reset", "rate_dup"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value}")
        if self.rate_429 + self.rate_5xx + self.rate_cut + self.rate_reset + self.rate_dup > 1.0 + 1e-9:
            raise ValueError("rate_429 + rate_5xx + rate_cut + rate_reset + rate_dup must not exceed 1")
        if self.retry_after < 0 or self.slow_seconds < 0 or self.max_faults_per_page < 0:
            raise ValueError("retry_after, slow_seconds and max_faults_per_page must be >= 0")

    @property
    def any_enabled(self) -> bool:
        return any((self.rate_429, self.rate_5xx, self.rate_slow, self.rate_cut, self.rate_reset, self.rate_dup))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def updated(self, changes: Mapping[str, Any]) -> FaultConfig:
        """A copy with ``changes`` applied, type-checked as they arrive from JSON."""
        types = {f.name: f.type for f in fields(self)}
        coerced: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in types:
                raise ValueError(f"unknown fault setting {name!r}")
            # bool is an int subclass; "true" as a rate is a client bug, not 1.0.
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number")
            if types[name] in ("int", int):
                if float(value) != int(value):
                    raise ValueError(f"{name} must be an integer")
                coerced[name] = int(value)
            else:
                coerced[name] = float(value)
        return replace(self, **coerced)


@dataclass(frozen=True)
class FaultDecision:
    fault: FaultKind | None
    status: int  # HTTP status to answer with (200 for none and for a cut page)
    slow_seconds: float  # 0.0 when not slowed down
    attempt: int
    cut_mode: CutMode | None = None


def decide(config: FaultConfig, page_key: str, attempt: int, consecutive_faults: int) -> FaultDecision:
    """Pure decision for one request; the same inputs always give the same answer."""
    rng = Random(f"{config.fault_seed}|{page_key}|{attempt}")
    u_fault, u_slow, u_status = rng.random(), rng.random(), rng.random()
    slow = config.slow_seconds if u_slow < config.rate_slow else 0.0
    fault: FaultKind | None = None
    cut_mode: CutMode | None = None
    status = 200
    if consecutive_faults < config.max_faults_per_page:
        # Cumulative bands of u_fault, in the order the kinds were added (older configs decide as before).
        bands: tuple[tuple[FaultKind, float], ...] = (
            ("429", config.rate_429), ("5xx", config.rate_5xx), ("cut", config.rate_cut),
            ("reset", config.rate_reset), ("dup", config.rate_dup),
        )
        edge = 0.0
        for kind, rate in bands:
            edge += rate
            if u_fault < edge:
                fault = kind
                break
        if fault == "429":
            status = 429
        elif fault == "5xx":
            status = FAULT_STATUSES_5XX[min(int(u_status * len(FAULT_STATUSES_5XX)), len(FAULT_STATUSES_5XX) - 1)]
        elif fault == "cut":
            cut_mode = "drop" if u_status < 0.5 else "truncate"
    return FaultDecision(fault, status, slow, attempt, cut_mode)


class FaultDecider:
    """Tracks attempts and failure streaks per page key; safe to share across threads."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self._lock = threading.Lock()
        self._config = config or FaultConfig()
        self._attempts: dict[str, int] = {}
        self._streaks: dict[str, int] = {}

    @property
    def config(self) -> FaultConfig:
        with self._lock:
            return self._config

    @config.setter
    def config(self, value: FaultConfig) -> None:
        with self._lock:
            self._config = value

    def update(self, changes: Mapping[str, Any]) -> FaultConfig:
        """Apply a partial update atomically (concurrent POST /sim/config calls)."""
        with self._lock:
            self._config = self._config.updated(changes)
            return self._config

    def reset(self) -> None:
        with self._lock:
            self._attempts.clear()
            self._streaks.clear()

    def decide(self, page_key: str) -> FaultDecision:
        with self._lock:
            attempt = self._attempts.get(page_key, 0)
            streak = self._streaks.get(page_key, 0)
            decision = decide(self._config, page_key, attempt, streak)
            self._attempts[page_key] = attempt + 1
            self._streaks[page_key] = streak + 1 if decision.fault is not None else 0
            return decision


@dataclass
class _Hold:
    """One arming of a gate (a page gate counts pages in ``accepted``)."""

    block_after: int
    accepted: int = 0
    waiting: int = 0
    release: threading.Event = field(default_factory=threading.Event)


class _Gate:
    """What both gates share: arm with a count, hold what comes after it, release; thread-safe. ``what`` names the
    held thing in errors, ``count_name`` the argument of :meth:`arm`."""

    gate_name = "gate"
    what = "request"
    count_name = "count"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._hold: _Hold | None = None

    def arm(self, count: int) -> dict[str, Any]:
        """Hold what comes once ``count`` more have been let through."""
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise PushError(f"{self.count_name} must be an integer >= 0")
        with self._lock:
            if self._hold is not None and self._hold.waiting:
                raise PushError(f"the {self.gate_name} is holding a {self.what}; release it first")
            self._hold = _Hold(count)
            self._changed.notify_all()
            return self._status()

    def release(self) -> dict[str, Any]:
        """Let what is held go on and disarm the gate (a no-op when it is not armed)."""
        with self._lock:
            hold, self._hold = self._hold, None
            if hold is not None:
                self._released(hold)
                hold.release.set()
            self._changed.notify_all()
            return self._status()

    def status(self) -> dict[str, Any]:
        with self._lock:
            return self._status()

    def wait_blocked(self, timeout: float) -> bool:
        """True once something is held by the gate, False after ``timeout`` seconds."""
        with self._lock:
            return self._changed.wait_for(lambda: self._hold is not None and self._hold.waiting > 0, timeout)

    def _released(self, hold: _Hold) -> None:
        """Called under the lock when an armed gate is released."""

    def _status(self) -> dict[str, Any]:
        raise NotImplementedError


class SendGate(_Gate):
    """Holds the batch being processed once ``block_after`` more messages were accepted; thread-safe.

    A batch send runs inside ``batch()``, calls ``admit()`` before each message and ``accepted()``
    after each accepted one.  Tests arm, watch and release the gate from another thread.
    """

    gate_name = "send gate"
    what = "batch"
    count_name = "block_after"

    def __init__(self) -> None:
        super().__init__()
        self._last_accepted = 0
        self._in_flight = 0  # batches being processed (a released one finishes later)

    def _released(self, hold: _Hold) -> None:
        self._last_accepted = hold.accepted

    def wait_batches_done(self, timeout: float) -> bool:
        """True once no batch is being processed (e.g. the rest of a released batch is accepted)."""
        with self._lock:
            return self._changed.wait_for(lambda: self._in_flight == 0, timeout)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Count a batch as being processed for as long as the block runs."""
        with self._lock:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1
                self._changed.notify_all()

    def admit(self) -> None:
        """Return at once, or wait here while the gate holds the batch (before each message)."""
        with self._lock:
            hold = self._hold
            if hold is None or hold.accepted < hold.block_after:
                return
            hold.waiting += 1
            self._changed.notify_all()
        try:
            hold.release.wait()
        finally:
            with self._lock:
                hold.waiting -= 1

    def accepted(self) -> None:
        """Count one accepted message towards the armed gate."""
        with self._lock:
            if self._hold is not None:
                self._hold.accepted += 1

    def _status(self) -> dict[str, Any]:
        hold = self._hold
        return {
            "armed": hold is not None,
            "blocked": hold is not None and hold.waiting > 0,
            "accepted_since_armed": hold.accepted if hold is not None else self._last_accepted,
        }


class PageGate(_Gate):
    """Holds ``GET /v1/events`` pages once ``after_pages`` more pages were let through; thread-safe.

    The route awaits ``admit()`` before answering a page (the wait runs in a worker thread, so the event
    loop keeps serving); tests arm, watch and release the gate from another thread.
    """

    gate_name = "page gate"
    count_name = "after_pages"

    def _should_hold(self) -> _Hold | None:
        with self._lock:
            hold = self._hold
            if hold is None:
                return None
            if hold.accepted < hold.block_after:
                hold.accepted += 1
                return None
            hold.waiting += 1
            self._changed.notify_all()
            return hold

    async def admit(self) -> None:
        """Return at once, or wait (off the event loop) while the gate holds page requests."""
        hold = self._should_hold()
        if hold is None:
            return
        try:
            await asyncio.to_thread(hold.release.wait)
        finally:
            with self._lock:
                hold.waiting -= 1

    def _status(self) -> dict[str, Any]:
        hold = self._hold
        return {"armed": hold is not None, "blocked": hold is not None and hold.waiting > 0,
                "pages_since_armed": hold.accepted if hold is not None else 0}
