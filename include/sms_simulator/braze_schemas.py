"""Avro schemas of the Braze Currents SMS events, written from Braze's published storage schemas.

Source: Braze docs, "Message engagement events", tab *Cloud Storage* of ``users.messages.sms.Send``,
``Delivery``, ``DeliveryFailure``, ``Rejection``, ``InboundReceive``, ``ShortLinkClick`` and ``Abort``;
``is_suspected_bot_click`` / ``suspected_bot_click_reason`` of ``ShortLinkClick`` from "SMS and RCS bot click
filtering" (Currents exports include them). A field marked *required* there is a plain Avro type here, an
*optional* one is ``["null", type]`` with default null (how Currents adds fields without breaking readers).
``time`` is an ``int``: UTC seconds since the epoch. Braze's own sample files are not used (they may not be
redistributed); the record names and namespace are ours.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import fastavro

NAMESPACE = "users.messages.sms"
SCHEMA_ID = 1  # the <schema-id> folder of the file layout

_CAMPAIGN = ("campaign_id", "campaign_name", "canvas_id", "canvas_name", "canvas_step_id", "canvas_step_name",
             "canvas_variation_id", "canvas_variation_name", "message_variation_id", "message_variation_name")
_OUTBOUND = ("app_group_id", *_CAMPAIGN, "dispatch_id", "external_user_id", "send_id", "subscription_group_id",
             "timezone", "to_phone_number")

# event type -> (required string fields, optional string fields, other fields)
_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[dict[str, Any], ...]]] = {
    "Send": (("id", "user_id"), (*_OUTBOUND, "category", "message_extras"), ()),
    "Delivery": (("id", "user_id"), (*_OUTBOUND, "from_phone_number"), ()),
    "DeliveryFailure": (("id", "user_id"), (*_OUTBOUND, "error", "provider_error_code"), ()),
    "Rejection": (("id", "user_id"), (*_OUTBOUND, "error", "from_phone_number", "provider_error_code"), ()),
    "Abort": (("id", "user_id"), (*_OUTBOUND, "abort_log", "abort_type"), ()),
    "InboundReceive": (
        ("action", "app_group_id", "id", "inbound_phone_number", "message_body", "user_phone_number"),
        (*_CAMPAIGN, "external_user_id", "subscription_group_id", "user_id"),
        ({"name": "media_urls", "type": ["null", {"type": "array", "items": "string"}], "default": None},),
    ),
    "ShortLinkClick": (
        ("id", "short_url", "url", "user_id"),
        ("app_group_id", *_CAMPAIGN, "external_user_id", "timezone", "user_agent", "user_phone_number"),
        ({"name": "is_suspected_bot_click", "type": ["null", "boolean"], "default": None},
         {"name": "suspected_bot_click_reason", "type": ["null", {"type": "array", "items": "string"}],
          "default": None}),
    ),
}
EVENT_TYPES: tuple[str, ...] = tuple(_FIELDS)


def schema_json(event_type: str) -> dict[str, Any]:
    """The Avro schema (JSON) of ``users.messages.sms.<event_type>``."""
    required, optional, other = _FIELDS[event_type]
    fields: list[dict[str, Any]] = [{"name": "time", "type": "int"}]
    fields += [{"name": n, "type": "string"} for n in required]
    fields += [{"name": n, "type": ["null", "string"], "default": None} for n in optional]
    fields += list(other)
    return {"type": "record", "name": event_type, "namespace": NAMESPACE,
            "fields": sorted(fields, key=lambda f: str(f["name"]))}


@cache
def parsed_schema(event_type: str) -> Any:
    return fastavro.parse_schema(schema_json(event_type))


def blank(event_type: str) -> dict[str, Any]:
    """A record of ``event_type`` with every optional field null (the caller sets the rest)."""
    _, optional, other = _FIELDS[event_type]
    return {**dict.fromkeys(optional), **{f["name"]: None for f in other}}
