"""The platform's published records as Acoustic Exchange (UBX) event notifications.

An event file of a UBX subscriber endpoint holds event notifications shaped as Exchange delivers them
to subscribers: ``provider``, ``source``, ``channel``, ``x1Id``, ``identifiers`` and one ``event``
(``code``, ``timestamp``, ``attributes`` of ``name``/``value``/``type``, every value a string).  Each
published record is rendered from its canonical envelope (the same model the event API serves), one
notification per event, in the attribute names Acoustic publishes:

* ``sentSMS``: the Unica mailing name travels in ``campaignName`` (configurable); ``programId`` /
  ``programName`` / ``programType`` are sometimes spelled ``smsProgramId`` / ``smsProgramName`` /
  ``smsProgramType`` as on Acoustic's universal-behaviour pages; ``deliveryStatus`` as "Delivered";
  no ``campaignCode`` and no ``messageParts`` (Acoustic publishes neither); plus ``eventName``,
  ``description``, ``code`` (the short code), ``locationCountry`` and ``messageType``.
* ``interactedSMS``: the interaction kind in ``messageType`` ("Click", "Reply", "Opt-out", ...); the
  campaign's program under either spelling; the facts Acoustic's tables do not name (``url``,
  ``linkToken``, ``actionName``, ``keyword``, ``value``) as attributes of those names.
* the phone identifier is ``mobileNumber`` or ``phoneNumber`` (both occur).

A deliberately malformed record stays malformed in UBX shape and stays one record: a non-object is
written as it is, an ``events`` that is not a list becomes an ``event`` that is not an object, and
attributes that are not a list are left so.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from .vocabulary import INTERACTED, SENT

INTERACTION_MESSAGE_TYPES = {"click": "Click", "reply": "Reply", "action": "Action", "opt_out": "Opt-out",
                             "opt_in": "Opt-in", "conversion": "Conversion"}
_SPELLINGS = {"programId": "smsProgramId", "programName": "smsProgramName", "programType": "smsProgramType"}
_NOT_PUBLISHED = frozenset({"campaignCode", "messageParts"})  # Acoustic has no such sentSMS attribute


@dataclass(frozen=True)
class UbxShape:
    """How the simulated Exchange account renders events."""

    mailing_attribute: str = "campaignName"  # where the campaign tool's unique mailing name travels
    short_code: str = "45876"
    provider: str = "Acoustic"
    source: str = "Acoustic Campaign"
    program_type: str = "Broadcast"
    program: tuple[str, str] | None = None  # (id, name) of the campaign's SMS program, if one is known


def _attr(name: str, value: Any, kind: str = "string") -> dict[str, Any]:
    return {"name": name, "value": value, "type": kind}


def _country(phone: Any) -> str:
    return "+44" if isinstance(phone, str) and phone.startswith("+44") else "+1"


def _x1_id(identifiers: list[Any]) -> str | None:
    for ident in identifiers:
        if isinstance(ident, dict) and ident.get("name") == "contactId" and ident.get("value"):
            return "x1-" + hashlib.sha256(str(ident["value"]).encode()).hexdigest()[:20]
    return None


def _identifiers(identifiers: Any, alt: bool) -> Any:
    if not isinstance(identifiers, list):
        return identifiers
    phone_name = "phoneNumber" if alt else "mobileNumber"
    return [{**i, "name": phone_name} if isinstance(i, dict) and i.get("name") == "phoneNumber" else i
            for i in identifiers]


def _phone(identifiers: Any) -> Any:
    if isinstance(identifiers, list):
        for ident in identifiers:
            if isinstance(ident, dict) and ident.get("name") == "phoneNumber":
                return ident.get("value")
    return None


def _program_name(name: str, alt: bool) -> str:
    return _SPELLINGS[name] if alt and name in _SPELLINGS else name


def _sent_attributes(attrs: list[dict[str, Any]], shape: UbxShape, alt: bool, phone: Any) -> list[dict[str, Any]]:
    out = [_attr("eventName", "Sent SMS")]
    has_program = False
    for a in attrs:
        name, value = a.get("name"), a.get("value")
        if name in _NOT_PUBLISHED:
            continue
        if name == "mailingName":
            out.append(_attr(shape.mailing_attribute, value))
        elif name in _SPELLINGS:
            has_program = True
            out.append(_attr(_program_name(str(name), alt), value))
        elif name == "deliveryStatus" and isinstance(value, str):
            out.append(_attr(name, value.capitalize()))
        else:
            out.append(_attr(str(name), value))
    if has_program:
        out.append(_attr(_program_name("programType", alt), shape.program_type))
    out += [_attr("messageType", shape.program_type), _attr("code", shape.short_code),
            _attr("locationCountry", _country(phone)),
            _attr("description", "A message sent from an SMS program")]
    return out


def _interaction_attributes(
    attrs: list[dict[str, Any]], shape: UbxShape, alt: bool, phone: Any
) -> list[dict[str, Any]]:
    out = [_attr("eventName", "Interacted SMS")]
    for a in attrs:
        name, value = a.get("name"), a.get("value")
        if name == "mailingName":
            out.append(_attr(shape.mailing_attribute, value))
        elif name == "interactionType":
            out.append(_attr("messageType", INTERACTION_MESSAGE_TYPES.get(str(value), value)))
        else:
            out.append(_attr(str(name), value))
    if shape.program is not None:
        out += [_attr(_program_name("programId", alt), shape.program[0]),
                _attr(_program_name("programName", alt), shape.program[1])]
    out += [_attr("code", shape.short_code), _attr("locationCountry", _country(phone)),
            _attr("description", "A mobile user interacted with an SMS program")]
    return out


def _event(event: Any, shape: UbxShape, alt: bool, phone: Any) -> Any:
    if not isinstance(event, dict) or not isinstance(event.get("attributes"), list):
        return event  # malformed attributes stay malformed
    attrs = [a for a in event["attributes"] if isinstance(a, dict)]
    code = event.get("code")
    if code == SENT:
        converted = _sent_attributes(attrs, shape, alt, phone)
    elif code == INTERACTED:
        converted = _interaction_attributes(attrs, shape, alt, phone)
    else:  # an unknown code: only the mailing name moves
        converted = [_attr(shape.mailing_attribute, a.get("value")) if a.get("name") == "mailingName"
                     else _attr(str(a.get("name")), a.get("value")) for a in attrs]
    return {**event, "attributes": converted}


def render_record(text: str, salt: int, shape: UbxShape) -> list[Any]:
    """The notifications of one published record (its canonical JSON); ``salt`` picks the spellings."""
    envelope = json.loads(text)
    if not isinstance(envelope, dict):
        return [envelope]  # a malformed record: not an object, and still one record
    identifiers = envelope.get("identifiers")
    head: dict[str, Any] = {"provider": shape.provider, "source": shape.source,
                            "channel": envelope.get("channel", "SMS")}
    x1 = _x1_id(identifiers) if isinstance(identifiers, list) else None
    if x1 is not None:
        head["x1Id"] = x1
    phone = _phone(identifiers)
    events = envelope.get("events")
    if not isinstance(events, list):
        # The canonical "events is not a list": in UBX shape an "event" that is not an object.
        return [{**head, "identifiers": _identifiers(identifiers, salt % 2 == 1), "event": [events]}]
    out: list[Any] = []
    for i, event in enumerate(events):
        alt = (salt + i) % 2 == 1
        out.append({**head, "identifiers": _identifiers(identifiers, alt), "event": _event(event, shape, alt, phone)})
    return out
