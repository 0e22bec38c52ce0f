"""Shared by the simulator tests: how a strict importer would judge a record the simulator rendered."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import phonenumbers

CODES = {"sentSMS", "interactedSMS"}
ITYPES = {"click", "reply", "action", "opt_out", "opt_in", "conversion"}


def classify(envelope: Any) -> str | None:
    """The defect of a record (one of MALFORMED_KINDS), or None when it is valid."""
    if not isinstance(envelope, dict):
        return "envelope_not_object"
    idents = {i["name"]: i["value"] for i in envelope["identifiers"]}
    if "phoneNumber" not in idents:
        return "missing_phone"
    try:
        if not phonenumbers.is_valid_number(phonenumbers.parse(idents["phoneNumber"], "US")):
            return "unparseable_phone"
    except phonenumbers.NumberParseException:
        return "unparseable_phone"
    if not isinstance(envelope["events"], list):
        return "events_not_list"
    for event in envelope["events"]:
        if event["code"] not in CODES:
            return "unknown_code"
        try:
            ts = datetime.fromisoformat(event["timestamp"])
        except ValueError:
            return "bad_timestamp"
        if ts.tzinfo is None:
            return "naive_timestamp"
        if not isinstance(event["attributes"], list):
            return "attributes_not_list"
        attrs = {a["name"]: a["value"] for a in event["attributes"]}
        if "eventId" not in attrs:
            return "missing_event_id"
        if "mailingName" not in attrs:
            return "missing_mailing_name"
        if event["code"] == "interactedSMS" and attrs.get("interactionType") not in ITYPES:
            return "invalid_interaction_type"
    return None
