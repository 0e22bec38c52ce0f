"""What a wave's audience is made of (:class:`AudienceSpec`): its source, filters, exclusions and consent policy.

Sources:

* ``segment``: the responders or non-responders of an earlier mailing (the wave's ``source_mailing`` and
  ``segment``), optionally only those who responded in a given way: ``response_types`` (click, reply, action,
  conversion), ``action_names``, ``link`` (a link's position in the message, 1 for the first, or its URL) and
  ``variant`` (the A/B variant they were sent);
* ``view``: every row of a named view or table of the response database (``NAME`` or ``SCHEMA.NAME``);
* ``query``: a saved query, ``<query>.sql`` in the saved-query folder, one read-only SELECT with ``%(name)s``
  parameters given by ``query_params``;
* ``list``: a CSV file in the audience drop folder.

Exclusions: the frequency cap (at most ``frequency_cap`` messages per phone in ``frequency_days`` days, across
every mailing and wave, planned ones included), phones that ever hard-failed, an earlier wave's holdout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sms_response.consent.policy import DEFAULT_POLICY, POLICIES
from sms_response.errors import SmsResponseError
from sms_response.run_conf import FILE_NAME_PATTERN, RELATION_PATTERN, RESPONSE_TYPES

SOURCES = ("segment", "view", "query", "list")
MAX_CAP_DAYS = 365
_NAME = re.compile(FILE_NAME_PATTERN)
_RELATION = re.compile(RELATION_PATTERN)
_PARAM = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


class AudienceError(SmsResponseError):
    """An audience request that cannot be planned; the message names the field and why. Nothing was planned."""


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v.strip() for v in value):
        raise AudienceError(f"{what} must be a list of non-empty strings, not {value!r}")
    return tuple(v.strip() for v in value)


@dataclass(frozen=True)
class AudienceSpec:
    """The audience part of a wave request; validated when built, stored with the wave as JSON."""

    source: str = "segment"
    relation: str = ""
    query: str = ""
    query_params: dict[str, Any] = field(default_factory=dict)
    list_file: str = ""
    response_types: tuple[str, ...] = ()
    action_names: tuple[str, ...] = ()
    link: str = ""
    variant: str = ""
    frequency_cap: int = 0
    frequency_days: int = 7
    exclude_hard_failures: bool = True
    exclude_holdout_of: str = ""
    consent_policy: str = DEFAULT_POLICY

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise JSON lists to tuples once
        set_(self, "response_types", _strings(self.response_types, "response_types"))
        set_(self, "action_names", _strings(self.action_names, "action_names"))
        set_(self, "link", str(self.link or "").strip())
        if self.source not in SOURCES:
            raise AudienceError(f"audience source must be one of {', '.join(SOURCES)}, not {self.source!r}")
        needs = {"view": ("relation", self.relation), "query": ("query", self.query), "list": ("list_file",
                                                                                                self.list_file)}
        for source, (name, value) in needs.items():
            if self.source == source and not value:
                raise AudienceError(f"audience source {source!r} needs {name}")
            if self.source != source and value:
                raise AudienceError(f"{name} is only for the {source!r} source, not {self.source!r}")
        if self.relation and not _RELATION.fullmatch(self.relation):
            raise AudienceError(f"relation {self.relation!r} must be NAME or SCHEMA.NAME (identifiers)")
        for name, value in (("query", self.query), ("list_file", self.list_file)):
            if value and (not _NAME.fullmatch(value) or ".." in value):
                raise AudienceError(f"{name} {value!r} must be a plain file name (letters, digits, _ - .), no path")
        if not isinstance(self.query_params, dict) or not all(
                isinstance(k, str) and _PARAM.fullmatch(k) for k in self.query_params):
            raise AudienceError(f"query_params must be an object of identifier keys, not {self.query_params!r}")
        if self.query_params and self.source != "query":
            raise AudienceError("query_params are only for the 'query' source")
        for k, v in self.query_params.items():
            if not isinstance(v, str | int | float | bool):
                raise AudienceError(f"query parameter {k!r} must be a string, number or boolean, not {v!r}")
        bad = sorted(set(self.response_types) - set(RESPONSE_TYPES))
        if bad:
            raise AudienceError(f"response_types {bad} unknown; known: {', '.join(RESPONSE_TYPES)}")
        if self.link and not (self.link.isdigit() and int(self.link) >= 1) and not re.match(r"https?://", self.link):
            raise AudienceError(f"link {self.link!r} must be a position (1 for the first link) or an http(s) URL")
        if self.variant and not re.fullmatch(r"[A-Za-z0-9_]{1,32}", self.variant):
            raise AudienceError(f"variant {self.variant!r} must be 1-32 letters, digits or underscores")
        if self.link and self.action_names:
            raise AudienceError("link and action_names cannot both be given: a response is a click or a tap")
        for needed, given in (("click", self.link), ("action", self.action_names)):
            if given and self.response_types and needed not in self.response_types:
                raise AudienceError(f"a {'link' if needed == 'click' else 'action_names'} filter selects "
                                    f"{needed}s: response_types {list(self.response_types)} leave them out")
        if self.filtered and self.source != "segment":
            raise AudienceError("response filters (response_types, action_names, link, variant) need the "
                                "'segment' source: they select among an earlier mailing's recipients")
        if not 0 <= int(self.frequency_cap) <= 1000:
            raise AudienceError(f"frequency_cap must be within 0..1000 (0: no cap), got {self.frequency_cap}")
        if not 1 <= int(self.frequency_days) <= MAX_CAP_DAYS:
            raise AudienceError(f"frequency_days must be within 1..{MAX_CAP_DAYS}, got {self.frequency_days}")
        if self.consent_policy not in POLICIES:
            raise AudienceError(f"consent_policy must be one of {', '.join(POLICIES)}, not {self.consent_policy!r}")

    @property
    def filtered(self) -> bool:
        return bool(self.response_types or self.action_names or self.link or self.variant)

    @property
    def responder_filtered(self) -> bool:
        """Filters that only responders can match (the variant filter works on any segment)."""
        return bool(self.response_types or self.action_names or self.link)

    def label(self, source_mailing: str, segment: str) -> str:
        """What the audience is, for logs and the wave report."""
        if self.source == "segment":
            what = f"{segment} of {source_mailing}"
            filters = [f"{k}={v}" for k, v in (("response_types", ",".join(self.response_types)),
                                              ("action_names", ",".join(self.action_names)),
                                              ("link", self.link), ("variant", self.variant)) if v]
            return what + (f" ({'; '.join(filters)})" if filters else "")
        return {"view": f"view {self.relation}", "query": f"saved query {self.query}",
                "list": f"list file {self.list_file}"}[self.source]
