"""Braze Currents (``platform: braze``): SMS events from the Avro files Currents writes to object storage.

A window reads the ``date=`` partitions of the hours it spans (the hour Braze queued the events: their
publication time here) for ``users.messages.sms.{Delivery, Rejection, DeliveryFailure, InboundReceive,
ShortLinkClick}``, plus the ``Send`` events of the same hours and of ``lookback_hours`` before, which give
each message its send time and attribute replies that Braze sent without a campaign. Partitions of closed
hours never change, so a rerun of a window yields the same records. Currents delivers at least once: an
event re-delivered in a second file keeps its ``id``, which becomes the ``eventId`` the importer
de-duplicates on (within the window and across windows), so re-deliveries count as duplicates.

The ``sms_platform`` connection (see docs/platform-braze.md): login = access key id, password = secret
access key (both empty: the worker's own AWS credentials); extras ``platform: braze``, ``bucket``
(required), ``prefix``, ``endpoint_url`` (S3-compatible storage), ``region``, ``integration_id``,
``mailing_name_fields``, ``campaign_code_fields``, ``lookback_hours``.

The adapter takes any fsspec filesystem (``BrazeCurrentsSource(fs, config)``); ``source_from_connection``
builds an ``s3fs`` one, the implementation Airflow's ``ObjectStoragePath`` uses for ``s3://``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sms_response.adapters import PlatformConnection
from sms_response.adapters.braze_events import (
    CLICK,
    DELIVERY,
    DELIVERY_FAILURE,
    INBOUND,
    REJECTION,
    SEND,
    Converter,
    Naming,
    SendIndex,
)
from sms_response.adapters.braze_files import CurrentsFiles, partition_hours
from sms_response.errors import ConfigError
from sms_response.platform import Page
from sms_response.window import Window

log = logging.getLogger(__name__)

# What each event type becomes, in the order a window reads them (Abort: a message never sent, skipped).
RECORD_TYPES = {DELIVERY: "sentSMS", REJECTION: "sentSMS", DELIVERY_FAILURE: "sentSMS",
                INBOUND: "interactedSMS", CLICK: "interactedSMS"}
DEFAULT_LOOKBACK_HOURS = 72
MAX_LOOKBACK_HOURS = 24 * 31


def _fields(extra: Mapping[str, Any], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = extra.get(name)
    if raw is None or raw == "" or raw == []:
        return default
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not all(isinstance(i, str) and i.strip() for i in items):
        raise ConfigError(f"sms_platform connection (braze): extra {name!r} must be a field name or a list of "
                          f"field names of the Currents SMS events, not {raw!r}")
    return tuple(i.strip() for i in items)


@dataclass(frozen=True)
class BrazeConfig:
    """The connection's extras, validated once."""

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    integration_id: str | None = None
    naming: Naming = field(default_factory=Naming)
    lookback_hours: int = DEFAULT_LOOKBACK_HOURS

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any]) -> BrazeConfig:
        bucket = str(extra.get("bucket") or "").strip().strip("/")
        if not bucket:
            raise ConfigError("sms_platform connection (braze): extra 'bucket' (the Currents bucket) is required")
        try:
            lookback = int(extra.get("lookback_hours", DEFAULT_LOOKBACK_HOURS))
        except (TypeError, ValueError):
            raise ConfigError("sms_platform connection (braze): extra 'lookback_hours' must be an integer") from None
        if not 0 <= lookback <= MAX_LOOKBACK_HOURS:
            raise ConfigError(f"sms_platform connection (braze): extra 'lookback_hours' must be within "
                              f"0..{MAX_LOOKBACK_HOURS}, not {lookback}")
        default = Naming()
        naming = Naming(_fields(extra, "mailing_name_fields", default.mailing_name_fields),
                        _fields(extra, "campaign_code_fields", default.campaign_code_fields))

        def text(name: str) -> str | None:
            value = extra.get(name)
            return str(value).strip() or None if value is not None else None

        return cls(bucket, str(extra.get("prefix") or "").strip("/"), text("endpoint_url"), text("region"),
                   text("integration_id"), naming, lookback)

    @property
    def root(self) -> str:
        return f"{self.bucket}/{self.prefix}" if self.prefix else self.bucket

    @property
    def label(self) -> str:
        """Where events come from, for the landing manifest (never a secret)."""
        where = f"s3://{self.root}"
        return f"{where} ({self.endpoint_url})" if self.endpoint_url else where


def s3_filesystem(conn: PlatformConnection, config: BrazeConfig) -> Any:
    """An ``s3fs`` filesystem for the connection; listings are never cached, so a rerun sees the bucket anew."""
    import s3fs

    client_kwargs: dict[str, Any] = {}
    if config.region:
        client_kwargs["region_name"] = config.region
    kwargs: dict[str, Any] = {"skip_instance_cache": True, "use_listings_cache": False,
                              "client_kwargs": client_kwargs}
    if conn.login or conn.password:
        kwargs.update(key=conn.login or None, secret=conn.password or None)
    if config.endpoint_url:
        kwargs["endpoint_url"] = config.endpoint_url
    return s3fs.S3FileSystem(**kwargs)


class BrazeCurrentsSource:
    """An ``EventSource`` over a Currents export: the canonical envelopes of a window, page by page."""

    def __init__(self, fs: Any, config: BrazeConfig) -> None:
        self.fs = fs
        self.config = config
        self.base_url = config.label
        self.retries_done = 0

    def __repr__(self) -> str:
        return f"BrazeCurrentsSource({self.base_url!r})"

    def close(self) -> None:
        """Nothing to release: s3fs keeps no connection we own."""

    def pages(
        self, window: Window, codes: Sequence[str] = (), mailings: Sequence[str] = (), page_size: int = 1000
    ) -> Iterator[Page]:
        hours = partition_hours(window)
        files = CurrentsFiles(self.fs, self.config.root, self.config.integration_id)
        lookback = [window.start - timedelta(hours=h) for h in range(self.config.lookback_hours, 0, -1)]
        sends = SendIndex(self.config.naming)
        for hour in lookback + hours:
            for path in files.files(SEND, hour):
                for record in files.records(path):
                    sends.add(record)
        converter = Converter(self.config.naming, sends)
        wanted_codes, wanted_mailings = set(codes), set(mailings)
        page: list[Any] = []
        number = records = 0
        read_before = 0
        for event_type, code in RECORD_TYPES.items():
            if wanted_codes and code not in wanted_codes:
                continue
            for hour in hours:
                for path in files.files(event_type, hour):
                    for record in files.records(path):
                        envelope = converter.envelope(event_type, record)
                        if envelope is None or (wanted_mailings and _mailing(envelope) not in wanted_mailings):
                            continue
                        page.append(envelope)
                        records += 1
                        if len(page) >= page_size:
                            number += 1
                            yield Page(number, page, files.bytes_read - read_before)
                            page, read_before = [], files.bytes_read
        if page:
            number += 1
            yield Page(number, page, files.bytes_read - read_before)
        log.info(
            "Braze Currents %s, window %s: %d records from %d partition hour(s); %d Send events (window and "
            "%d look-back hours), %d outcome(s) without their Send, %d reply(ies) attributed to the last "
            "message sent", self.base_url, window.id, records, len(hours), len(sends), len(lookback),
            converter.outcomes_without_send, converter.replies_attributed,
        )


def _mailing(envelope: Mapping[str, Any]) -> object:
    for attr in envelope["events"][0]["attributes"]:
        if attr["name"] == "mailingName":
            return attr["value"]
    return None


def source_from_connection(conn: PlatformConnection) -> BrazeCurrentsSource:
    """The adapter for the ``sms_platform`` connection (called by ``sms_response.adapters.event_source``)."""
    config = BrazeConfig.from_extra(conn.extra)
    return BrazeCurrentsSource(s3_filesystem(conn, config), config)
