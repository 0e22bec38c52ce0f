"""Twilio Event Streams as an event source: a window's events from the receiver's partition files.

Twilio pushes CloudEvents to a webhook sink (at-least-once, in any order); the receiver
(``python -m sms_response.adapters.twilio_receiver``) verifies and files them by their own time. This
source reads the files of a window (plus a look-back) and renders canonical envelopes
(``twilio_messages``): one ``sentSMS`` per message, an ``interactedSMS`` per reply (STOP-family replies
become opt-outs, START / UNSTOP opt-ins, as the importer classifies reply text) and per link click.

The ``sms_platform`` connection (extra ``platform: twilio``) carries no secret for this: the receiver
holds the Auth Token. Extras:

* ``events_dir`` (required): the receiver's ``--dir`` (shared storage when the receiver runs elsewhere);
* ``lookback_hours`` (default 24): how far before a window earlier statuses and mailings are looked up;
* ``mailing_tag`` / ``campaign_tag`` (default ``mailingName`` / ``campaignCode``): the message tags that
  carry the campaign tool's mailing name and campaign code;
* ``mailing_services``: messaging service SID → mailing name (for clicks and replies, and for messages
  sent without the tag); ``mailing_services_file``: the same as a JSON file the sender keeps up to date
  (read at each window; the connection's map wins on a conflict);
* ``reply_to_last_message`` (default true): a reply whose service names no mailing belongs to the
  mailing of the last message sent to that phone before it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sms_response.adapters import PlatformConnection
from sms_response.adapters.twilio_messages import INTERACTED, SENT, MailingRules, window_records
from sms_response.adapters.twilio_store import read_lines
from sms_response.errors import ConfigError
from sms_response.platform import Page
from sms_response.window import Window

log = logging.getLogger(__name__)

DEFAULT_LOOKBACK = timedelta(hours=24)
# Event Streams retries a failed delivery for up to four hours: until then a window may still grow.
RETRY_HORIZON = timedelta(hours=4)


@dataclass(frozen=True)
class TwilioConfig:
    events_dir: Path
    lookback: timedelta = DEFAULT_LOOKBACK
    rules: MailingRules = field(default_factory=MailingRules)
    services_file: Path | None = None  # a JSON object service SID -> mailing, kept by the sender, read per window

    def rules_now(self) -> MailingRules:
        """The mailing rules with the services file as it is now (the configured map wins on a conflict)."""
        if self.services_file is None:
            return self.rules
        try:
            doc = json.loads(self.services_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"Twilio mailing services file {self.services_file} is unreadable: {exc}") from None
        if not isinstance(doc, dict):
            raise ConfigError(f"Twilio mailing services file {self.services_file} is not a JSON object")
        found = {str(k): str(v) for k, v in doc.items() if isinstance(v, str) and v.strip()}
        return replace(self.rules, mailing_services={**found, **self.rules.mailing_services})

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any]) -> TwilioConfig:
        where = "sms_platform connection (platform twilio): extra"
        events_dir = extra.get("events_dir")
        if not isinstance(events_dir, str) or not events_dir.strip():
            raise ConfigError(f"{where} 'events_dir' must name the Twilio receiver's --dir")
        try:
            hours = float(extra.get("lookback_hours", DEFAULT_LOOKBACK / timedelta(hours=1)))
        except (TypeError, ValueError):
            raise ConfigError(f"{where} 'lookback_hours' must be a number of hours") from None
        if not 0 <= hours <= 24 * 14:
            raise ConfigError(f"{where} 'lookback_hours' must be between 0 and 336, not {hours}")
        services = extra.get("mailing_services") or {}
        if isinstance(services, str):
            try:
                services = json.loads(services)
            except ValueError:
                raise ConfigError(f"{where} 'mailing_services' is not a JSON object") from None
        if not isinstance(services, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in services.items()
        ):
            raise ConfigError(f"{where} 'mailing_services' must map messaging service SIDs to mailing names")
        tags = {}
        for key, default in (("mailing_tag", "mailingName"), ("campaign_tag", "campaignCode")):
            value = extra.get(key, default)
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"{where} '{key}' must be a tag name")
            tags[key] = value.strip()
        reply_last = extra.get("reply_to_last_message", True)
        if isinstance(reply_last, str):
            reply_last = reply_last.strip().lower() in ("1", "true", "yes")
        rules = MailingRules(tags["mailing_tag"], tags["campaign_tag"],
                             {k.strip(): v.strip() for k, v in services.items()}, bool(reply_last))
        services_file = extra.get("mailing_services_file")
        if services_file is not None and (not isinstance(services_file, str) or not services_file.strip()):
            raise ConfigError(f"{where} 'mailing_services_file' must be a path")
        return cls(Path(events_dir.strip()).expanduser(), timedelta(hours=hours), rules,
                   Path(services_file.strip()).expanduser() if services_file else None)


def _mailing_of(record: Any) -> str | None:
    events = record.get("events") if isinstance(record, dict) else None
    if not isinstance(events, list) or not events or not isinstance(events[0], dict):
        return None
    for a in events[0].get("attributes", []):
        if isinstance(a, dict) and a.get("name") == "mailingName":
            return str(a.get("value"))
    return None


def _code_of(record: Any) -> str | None:
    events = record.get("events") if isinstance(record, dict) else None
    if isinstance(events, list) and events and isinstance(events[0], dict):
        code = events[0].get("code")
        return code if isinstance(code, str) else None
    return None


class TwilioEventStreamsSource:
    """``EventSource`` over the receiver's partition files; nothing to open, nothing secret."""

    def __init__(self, config: TwilioConfig) -> None:
        self.config = config
        self.base_url = f"twilio-event-streams:{config.events_dir}"  # a label for the landing manifest

    def __repr__(self) -> str:
        return f"TwilioEventStreamsSource({str(self.config.events_dir)!r})"

    def close(self) -> None:
        return None

    def pages(
        self, window: Window, codes: Sequence[str] = (), mailings: Sequence[str] = (), page_size: int = 1000
    ) -> Iterator[Page]:
        if not self.config.events_dir.is_dir():
            raise ConfigError(f"Twilio events directory {self.config.events_dir} does not exist: point the "
                              "sms_platform connection's extra 'events_dir' at the receiver's --dir")
        lines = read_lines(self.config.events_dir, window.start - self.config.lookback, window.end)
        records, stats = window_records(lines, window.start, window.end, self.config.rules_now())
        if codes or mailings:
            # A quarantined line has no code or mailing; a filtered run leaves it to the full window.
            records = [r for r in records if (not codes or _code_of(r) in codes)
                       and (not mailings or _mailing_of(r) in mailings)]
        log.info("window %s from Twilio Event Streams: %d record(s): %d message(s), %d repl(ies), %d click(s), "
                 "%d unreadable line(s); %d message(s) with no final status yet, %d event(s) of other types "
                 "ignored", window.id, len(records), stats.messages, stats.replies, stats.clicks, stats.unreadable,
                 stats.pending, stats.ignored)
        if datetime.now(UTC) < window.end + RETRY_HORIZON:
            log.warning("window %s ended less than %s ago: Twilio may still deliver (retried) events of it; "
                        "run the window again after %s to include them", window.id, RETRY_HORIZON,
                        (window.end + RETRY_HORIZON).isoformat())
        size = max(1, page_size)
        for number, first in enumerate(range(0, max(len(records), 1), size)):
            chunk = records[first:first + size]
            yield Page(number, chunk, sum(len(json.dumps(r, default=str)) for r in chunk))


def source_from_connection(conn: PlatformConnection) -> TwilioEventStreamsSource:
    return TwilioEventStreamsSource(TwilioConfig.from_extra(conn.extra))


__all__ = ["INTERACTED", "SENT", "TwilioConfig", "TwilioEventStreamsSource", "source_from_connection"]
