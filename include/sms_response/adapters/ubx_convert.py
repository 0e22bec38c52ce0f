"""UBX event files → canonical envelopes: parse a file, map each event notification (``ubx_mapping.yaml``).

A notification is ``{provider, source, channel, x1Id, identifiers, event: {code, timestamp, attributes}}``
(a compound ``events`` list is read too). It becomes one canonical envelope ``{channel, identifiers,
events}`` whose attributes carry the names ``mapping.yaml`` reads. Nothing is repaired: a notification
the mapping cannot read (not an object, an ``event`` that is not an object, attributes that are not a
list, no mailing name) passes as it is, so the importer quarantines it as one record with its reason.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import yaml

from sms_response.adapters.ubx_options import UbxOptions
from sms_response.errors import ConfigError
from sms_response.messages import count_segments

DERIVED = ("campaignCode", "messageParts")
MAILING = "mailingName"


class UbxFileError(ValueError):
    """An event file that is not JSON (a cut download, or not an event file at all)."""


def value_key(value: str) -> str:
    """How mapped values are matched: case and punctuation do not count ("Opt-out" = "optout")."""
    return re.sub(r"[^a-z0-9]", "", value.lower())


@dataclass(frozen=True)
class Rule:
    target: str
    sources: tuple[str, ...]
    values: Mapping[str, str]


@dataclass(frozen=True)
class CodeRules:
    rules: tuple[Rule, ...]
    derive: frozenset[str]


@dataclass(frozen=True)
class UbxMapping:
    identifiers: tuple[Rule, ...]
    codes: Mapping[str, CodeRules]


def _rule(target: Any, spec: Any, where: str) -> Rule:
    if not isinstance(target, str) or not target:
        raise ConfigError(f"{where}: {target!r} is not an attribute name")
    values: dict[str, str] = {}
    if isinstance(spec, dict):
        unknown = set(spec) - {"from", "values"}
        if unknown:
            raise ConfigError(f"{where}.{target}: unknown keys {sorted(unknown)}")
        raw_values = spec.get("values") or {}
        if not isinstance(raw_values, dict):
            raise ConfigError(f"{where}.{target}.values: expected UBX value → canonical value")
        values = {value_key(str(k)): str(v) for k, v in raw_values.items()}
        spec = spec.get("from")
    if not isinstance(spec, list) or not spec or not all(isinstance(s, str) and s for s in spec):
        raise ConfigError(f"{where}.{target}: expected a list of UBX names (or {{from: [...], values: {{...}}}})")
    return Rule(target, tuple(spec), values)


def parse_ubx_mapping(doc: Any, source: str) -> UbxMapping:
    if not isinstance(doc, dict) or set(doc) - {"identifiers", "events"}:
        raise ConfigError(f"{source}: expected the keys identifiers and events")
    idents = doc.get("identifiers") or {}
    events = doc.get("events") or {}
    if not isinstance(idents, dict) or not isinstance(events, dict):
        raise ConfigError(f"{source}: identifiers and events must be mappings")
    codes: dict[str, CodeRules] = {}
    for code, spec in events.items():
        where = f"{source}: events.{code}"
        if not isinstance(spec, dict) or set(spec) - {"attributes", "derive"}:
            raise ConfigError(f"{where}: expected the keys attributes and derive")
        attrs = spec.get("attributes") or {}
        derive = spec.get("derive") or []
        if not isinstance(attrs, dict) or not isinstance(derive, list) or set(derive) - set(DERIVED):
            raise ConfigError(f"{where}: attributes must be a mapping, derive a list among {', '.join(DERIVED)}")
        if MAILING in attrs:
            raise ConfigError(f"{where}.attributes: {MAILING} comes from the extra ubx_mailing_attribute")
        codes[str(code)] = CodeRules(tuple(_rule(t, s, f"{where}.attributes") for t, s in attrs.items()),
                                     frozenset(derive))
    return UbxMapping(tuple(_rule(t, s, f"{source}: identifiers") for t, s in idents.items()), codes)


def load_ubx_mapping(options: UbxOptions) -> UbxMapping:
    if options.mapping_file is None:
        text = (files("sms_response.adapters") / "ubx_mapping.yaml").read_text(encoding="utf-8")
        source = "ubx_mapping.yaml (packaged)"
    else:
        try:
            text = options.mapping_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read the UBX mapping file {options.mapping_file}: {exc}") from exc
        source = str(options.mapping_file)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    return parse_ubx_mapping(doc, source)


def parse_event_file(raw: bytes) -> list[Any]:
    """The notifications of an event file: a JSON array, an object holding an ``events`` array, a single
    notification, or one notification per line; gzip-compressed or not."""
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise UbxFileError(f"not a complete gzip file ({exc})") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UbxFileError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    try:
        doc = json.loads(text)
    except ValueError:
        lines = [line for line in text.splitlines() if line.strip()]
        try:
            return [json.loads(line) for line in lines]
        except ValueError as exc:
            raise UbxFileError(f"neither a JSON document nor JSON lines ({len(raw)} bytes): {exc}") from exc
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict) and isinstance(doc.get("events"), list) and "identifiers" not in doc:
        return list(doc["events"])
    return [doc]


class Converter:
    """Maps notifications to canonical envelopes with ``mapping`` and the connection's ``options``."""

    def __init__(self, mapping: UbxMapping, options: UbxOptions) -> None:
        self.mapping = mapping
        self.options = options
        self._mailing = Rule(MAILING, (options.mailing_attribute, MAILING), {})
        self._code_attr = options.campaign_code_attribute

    def envelope(self, notification: Any) -> Any:
        """The canonical envelope of one notification (or the notification itself when unreadable)."""
        if not isinstance(notification, dict):
            return notification
        if "event" in notification:
            if not isinstance(notification["event"], dict):
                return notification
            events = [notification["event"]]
        elif isinstance(notification.get("events"), list):
            events = list(notification["events"])
        else:
            return notification
        out: dict[str, Any] = {}
        if "channel" in notification:
            out["channel"] = notification["channel"]
        if "identifiers" in notification:
            out["identifiers"] = self._identifiers(notification["identifiers"], notification.get("x1Id"))
        out["events"] = [self._event(e) for e in events]
        return out

    def _identifiers(self, identifiers: Any, x1_id: Any) -> Any:
        if not isinstance(identifiers, list):
            return identifiers
        named = [i for i in identifiers if isinstance(i, dict) and isinstance(i.get("name"), str)]
        values = {i["name"]: i for i in reversed(named)}  # the first of a name wins
        consumed: set[str] = set()
        out: list[Any] = []
        for rule in self.mapping.identifiers:
            found = next((values[s] for s in rule.sources if s in values), None)
            consumed.update(rule.sources)
            if found is not None:
                out.append({**found, "name": rule.target})
        out += [i for i in identifiers if not (isinstance(i, dict) and i.get("name") in consumed)]
        if isinstance(x1_id, str) and x1_id and "x1Id" not in values:
            out.append({"name": "x1Id", "value": x1_id})
        return out

    def _event(self, event: Any) -> Any:
        if not isinstance(event, dict) or not isinstance(event.get("attributes"), list):
            return event
        code = event.get("code")
        rules = self.mapping.codes.get(code) if isinstance(code, str) else None
        attrs: list[Any] = list(event["attributes"])
        for rule in (self._mailing, *(rules.rules if rules else ())):
            attrs = _apply(rule, attrs)
        if rules is not None:
            attrs = self._derive(attrs, rules.derive)
        return {**event, "attributes": attrs}

    def _derive(self, attrs: list[Any], derive: frozenset[str]) -> list[Any]:
        by_name = {a["name"]: a.get("value") for a in attrs if isinstance(a, dict) and isinstance(a.get("name"), str)}
        if "campaignCode" in derive and "campaignCode" not in by_name:
            if self._code_attr and self._code_attr in by_name:
                attrs = _apply(Rule("campaignCode", (self._code_attr,), {}), attrs)
            else:
                code = self._campaign_code(by_name.get(MAILING))
                if code is not None:
                    attrs.append({"name": "campaignCode", "value": code, "type": "string"})
        body = by_name.get("messageBody")
        if "messageParts" in derive and "messageParts" not in by_name and isinstance(body, str):
            attrs.append({"name": "messageParts", "value": str(count_segments(body).parts), "type": "number"})
        return attrs

    def _campaign_code(self, mailing: Any) -> str | None:
        pattern = self.options.campaign_code_pattern
        if pattern is None or not isinstance(mailing, str):
            return None
        match = pattern.search(mailing)
        return match.group(1) if match and match.group(1) else None


def _apply(rule: Rule, attrs: list[Any]) -> list[Any]:
    """Rename the first present source of ``rule`` to its target (mapping its value); drop the others."""
    position = None
    for i, a in enumerate(attrs):
        if isinstance(a, dict) and a.get("name") in rule.sources:
            rank = rule.sources.index(a["name"])
            if position is None or rank < rule.sources.index(attrs[position]["name"]):
                position = i
    if position is None:
        return attrs
    chosen = attrs[position]
    value = chosen.get("value")
    if rule.values and isinstance(value, str):
        value = rule.values.get(value_key(value), value)
    renamed = {**chosen, "name": rule.target, "value": value}
    return [renamed if i == position else a for i, a in enumerate(attrs)
            if i == position or not (isinstance(a, dict) and a.get("name") in rule.sources)]
