"""The audience part of a wave request (AudienceSpec): every refusal names the field and why; a valid audience
survives the JSON a wave stores and reads back (``WaveSpec(**spec.to_json())``)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sms_response.waves.request import WaveError, WaveSpec
from sms_response.waves.targeting import AudienceError, AudienceSpec


def wave(audience: AudienceSpec | dict[str, Any], **kw: Any) -> WaveSpec:
    base: dict[str, Any] = dict(campaign_code="C", wave_name="W", source_mailing="M", segment="responders",
                                variants={"A": "hi"}, audience=audience)
    base.update(kw)
    return WaveSpec(**base)


def round_trip(spec: WaveSpec) -> WaveSpec:
    """What the wave stores in wave_runs.params and reads back."""
    return WaveSpec(**json.loads(json.dumps(spec.to_json())))


@pytest.mark.parametrize(("kw", "message"), [
    # lists of names
    ({"response_types": 5}, r"response_types must be a list of non-empty strings, not 5"),
    ({"response_types": ["click", ""]}, r"response_types must be a list of non-empty strings"),
    ({"action_names": ["buy", 3]}, r"action_names must be a list of non-empty strings, not \['buy', 3\]"),
    ({"action_names": {"buy": 1}}, r"action_names must be a list of non-empty strings"),
    # the source and what it needs
    ({"source": "table"}, r"audience source must be one of segment, view, query, list, not 'table'"),
    ({"source": "view"}, r"audience source 'view' needs relation"),
    ({"source": "query"}, r"audience source 'query' needs query"),
    ({"source": "list"}, r"audience source 'list' needs list_file"),
    ({"relation": "v"}, r"relation is only for the 'view' source, not 'segment'"),
    ({"source": "list", "list_file": "a.csv", "query": "q"}, r"query is only for the 'query' source, not 'list'"),
    ({"source": "query", "query": "q", "list_file": "a.csv"}, r"list_file is only for the 'list' source, not 'query'"),
    # names
    ({"source": "view", "relation": "a b"}, r"relation 'a b' must be NAME or SCHEMA.NAME"),
    ({"source": "view", "relation": "a.b.c"}, r"relation 'a.b.c' must be NAME or SCHEMA.NAME"),
    ({"source": "view", "relation": "1view"}, r"relation '1view' must be NAME or SCHEMA.NAME"),
    ({"source": "view", "relation": "v; DROP TABLE contacts"}, r"must be NAME or SCHEMA.NAME"),
    ({"source": "query", "query": "../secret"}, r"query '../secret' must be a plain file name"),
    ({"source": "query", "query": "a..b"}, r"query 'a..b' must be a plain file name"),
    ({"source": "list", "list_file": "/etc/passwd"}, r"list_file '/etc/passwd' must be a plain file name"),
    ({"source": "list", "list_file": "-x.csv"}, r"list_file '-x.csv' must be a plain file name"),
    # query parameters
    ({"source": "query", "query": "q", "query_params": ["tier"]}, r"query_params must be an object of identifier keys"),
    ({"source": "query", "query": "q", "query_params": {"1tier": "gold"}}, r"query_params must be an object"),
    ({"source": "query", "query": "q", "query_params": {"loyalty-tier": "gold"}}, r"query_params must be an object"),
    ({"query_params": {"tier": "gold"}}, r"query_params are only for the 'query' source"),
    ({"source": "query", "query": "q", "query_params": {"tier": ["gold"]}},
     r"query parameter 'tier' must be a string, number or boolean, not \['gold'\]"),
    ({"source": "query", "query": "q", "query_params": {"tier": None}}, r"query parameter 'tier' must be a string"),
    # response filters
    ({"response_types": ["click", "open"]}, r"response_types \['open'\] unknown; known: click, reply, action, conversion"),
    ({"link": "0"}, r"link '0' must be a position \(1 for the first link\) or an http\(s\) URL"),
    ({"link": "first"}, r"link 'first' must be a position"),
    ({"link": "ftp://shop.example/a"}, r"link 'ftp://shop.example/a' must be a position"),
    ({"variant": "B-2"}, r"variant 'B-2' must be 1-32 letters, digits or underscores"),
    ({"variant": "V" * 33}, r"variant 'V{33}' must be 1-32"),
    ({"link": "1", "action_names": ["buy"]}, r"link and action_names cannot both be given"),
    ({"link": "1", "response_types": ["reply"]},
     r"a link filter selects clicks: response_types \['reply'\] leave them out"),
    ({"action_names": ["buy"], "response_types": ["click", "reply"]},
     r"a action_names filter selects actions: response_types \['click', 'reply'\] leave them out"),
    ({"source": "view", "relation": "v", "variant": "B"}, r"response filters .* need the 'segment' source"),
    ({"source": "list", "list_file": "a.csv", "response_types": ["click"]}, r"need the 'segment' source"),
    # cap and policy
    ({"frequency_cap": -1}, r"frequency_cap must be within 0..1000 \(0: no cap\), got -1"),
    ({"frequency_cap": 1001}, r"frequency_cap must be within 0..1000"),
    ({"frequency_days": 0}, r"frequency_days must be within 1..365, got 0"),
    ({"frequency_days": 366}, r"frequency_days must be within 1..365, got 366"),
    ({"consent_policy": "implied"}, r"consent_policy must be one of opt_in_required, not_opted_out, not 'implied'"),
])
def test_an_invalid_audience_is_refused_naming_the_field(kw: dict[str, Any], message: str) -> None:
    with pytest.raises(AudienceError, match=message):
        AudienceSpec(**kw)
    # The same audience in a stored wave request (JSON) is refused as a WaveError naming it.
    with pytest.raises(WaveError, match=r"^audience: .*" + message):
        wave(dict(kw), source_mailing="M" if kw.get("source", "segment") == "segment" else "")


def test_the_defaults_are_the_plain_segment_under_opt_in_required() -> None:
    a = AudienceSpec()
    assert (a.source, a.consent_policy, a.frequency_cap, a.frequency_days, a.exclude_hard_failures) == (
        "segment", "opt_in_required", 0, 7, True)
    assert not a.filtered and not a.responder_filtered
    assert a.label("M1", "non_responders") == "non_responders of M1"


def test_names_are_normalised_once() -> None:
    a = AudienceSpec(response_types=["click", "action"], action_names="buy", variant="B")
    assert (a.response_types, a.action_names) == (("click", "action"), ("buy",))
    assert AudienceSpec(link=" 2 ").link == "2"
    assert AudienceSpec(link=2).link == "2"  # a position given as a JSON number
    assert AudienceSpec(response_types="", action_names=None).response_types == ()  # type: ignore[arg-type]
    assert AudienceSpec(variant="B").filtered and not AudienceSpec(variant="B").responder_filtered


def test_the_wave_request_checks_the_audience_against_its_segment_and_source_mailing() -> None:
    with pytest.raises(WaveError, match="response filters .* select responders: use segment 'responders'"):
        wave(AudienceSpec(response_types=["click"]), segment="non_responders")
    wave(AudienceSpec(variant="A"), segment="non_responders")  # a variant filter works on either segment
    with pytest.raises(WaveError, match="source_mailing 'not a mailing' is not a mailing name"):
        wave(AudienceSpec(), source_mailing="not a mailing")
    with pytest.raises(WaveError, match="source_mailing is only for the segment source, not 'view'"):
        wave(AudienceSpec(source="view", relation="v"))
    with pytest.raises(WaveError, match="segment must be one of responders, non_responders"):
        wave(AudienceSpec(), segment="")
    assert wave(AudienceSpec(source="list", list_file="a.csv"), source_mailing="", segment="").segment_label == "list"
    with pytest.raises(WaveError, match=r"^audience: .*unexpected keyword argument 'sources'"):
        wave({"sources": "view"})


@pytest.mark.parametrize("audience", [
    AudienceSpec(),
    AudienceSpec(response_types=("click", "action"), action_names=("buy", "info"), variant="B", frequency_cap=2,
                 frequency_days=3, exclude_hard_failures=False, exclude_holdout_of="M0",
                 consent_policy="not_opted_out"),
    AudienceSpec(link="https://shop.example/a?x=1", response_types=("click",)),
    AudienceSpec(source="view", relation="crm.gold_customers"),
    AudienceSpec(source="query", query="by_tier.v2", query_params={"tier": "gold", "min": 2, "ratio": 0.5,
                                                                   "active": True}),
    AudienceSpec(source="list", list_file="spring_2026.csv", frequency_cap=1),
], ids=["segment", "filtered_segment", "link_url", "view", "query", "list"])
def test_an_audience_survives_the_stored_json_of_its_wave(audience: AudienceSpec) -> None:
    spec = wave(audience, source_mailing="M" if audience.source == "segment" else "",
                segment="responders" if audience.source == "segment" else "")
    back = round_trip(spec)
    assert back == spec and back.audience == audience
    assert isinstance(back.audience, AudienceSpec) and isinstance(back.audience.response_types, tuple)
    assert back.to_json() == spec.to_json()


@pytest.mark.parametrize(("audience", "label"), [
    (AudienceSpec(response_types=("reply",), link="", variant="B"), "responders of M (response_types=reply; variant=B)"),
    (AudienceSpec(link="2"), "responders of M (link=2)"),
    (AudienceSpec(action_names=("buy", "info")), "responders of M (action_names=buy,info)"),
    (AudienceSpec(source="view", relation="v"), "view v"),
    (AudienceSpec(source="query", query="q"), "saved query q"),
    (AudienceSpec(source="list", list_file="a.csv"), "list file a.csv"),
])
def test_an_audience_says_what_it_is(audience: AudienceSpec, label: str) -> None:
    assert audience.label("M", "responders") == label
