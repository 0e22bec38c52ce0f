"""The wave DAG's Params form: the audience fields are validated by Airflow (the UI form and REST conf go through
the same ``ParamsDict.validate``) and, past the form, by the plan's request (``wave_tasks.spec_from_params``)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk.exceptions import ParamValidationError

from sms_response.waves.request import WaveError
from sms_response.waves.targeting import AudienceError
from sms_rt_airflow.wave_tasks import spec_from_params

DAGS = Path(__file__).resolve().parents[2] / "dags"
BASE = {"campaign_code": "SPRING26", "wave_name": "Gold", "template": "Hi {given_name} https://shop.example/x"}


@pytest.fixture(scope="module")
def params() -> Any:
    bag = DagBag(dag_folder=str(DAGS / "sms_campaign_wave.py"))
    assert bag.import_errors == {}
    return bag.dags["sms_campaign_wave"].params


def validated(params: Any, conf: dict[str, Any]) -> dict[str, Any]:
    p = copy.deepcopy(params)
    for k, v in {**BASE, **conf}.items():
        p[k] = v
    return dict(p.validate())


@pytest.mark.parametrize("conf", [
    {"audience_source": "segment", "source_mailing": "SPRING26_Wave1_20261120090000", "segment": "responders",
     "response_types": ["click"], "link": "2"},
    {"audience_source": "view", "audience_view": "crm.gold_customers", "consent_policy": "not_opted_out"},
    {"audience_source": "query", "audience_query": "gold_customers", "query_params": {"tier": "gold"},
     "frequency_cap": 2, "frequency_days": 14},
    {"audience_source": "list", "audience_list_file": "vip-2026.csv", "exclude_hard_failures": False},
    {"audience_source": "segment", "source_mailing": "W1_20261120090000", "segment": "non_responders",
     "variant": "B", "exclude_holdout_of": "W1_20261120090000"},
])
def test_the_form_accepts_each_source_and_the_request_builds(params: Any, conf: dict[str, Any]) -> None:
    spec = spec_from_params(validated(params, conf))
    assert spec.audience.source == conf["audience_source"]
    assert spec.audience.consent_policy == conf.get("consent_policy", "opt_in_required")


@pytest.mark.parametrize(("conf", "field"), [
    ({"audience_source": "everyone"}, "audience_source"),
    ({"consent_policy": "texted_before"}, "consent_policy"),
    ({"frequency_cap": -1}, "frequency_cap"),
    ({"frequency_days": 0}, "frequency_days"),
    ({"response_types": ["opt_out"]}, "response_types"),
    ({"link": "../etc"}, "link"),
    ({"audience_query": "../../secret"}, "audience_query"),
    ({"audience_list_file": "a/b.csv"}, "audience_list_file"),
    ({"audience_view": "crm.customers; DROP TABLE x"}, "audience_view"),
    ({"source_mailing": "x' OR 1=1 --"}, "source_mailing"),
])
def test_the_form_refuses_bad_fields_naming_them(params: Any, conf: dict[str, Any], field: str) -> None:
    with pytest.raises(ParamValidationError, match=field):
        validated(params, conf)


@pytest.mark.parametrize(("conf", "message"), [
    ({"audience_source": "view"}, "needs relation"),
    ({"audience_source": "segment", "source_mailing": "M_20261120090000", "segment": "non_responders",
      "response_types": ["click"]}, "use segment 'responders'"),
    ({"audience_source": "segment", "source_mailing": "", "segment": "responders"}, "is not a mailing name"),
    ({"audience_source": "segment", "source_mailing": "M_1", "segment": "responders", "link": "1",
      "action_names": ["Yes"]}, "cannot both be given"),
    ({"audience_source": "query", "audience_query": "q", "query_params": {"a b": 1}}, "identifier keys"),
])
def test_combinations_the_form_cannot_express_are_refused_by_the_request(
    params: Any, conf: dict[str, Any], message: str
) -> None:
    with pytest.raises((WaveError, AudienceError), match=message):
        spec_from_params(validated(params, conf))


def test_fields_of_another_source_left_in_the_form_are_ignored(params: Any) -> None:
    """The form keeps what was typed when the source changes: those fields are ignored, not refused."""
    spec = spec_from_params(validated(params, {
        "audience_source": "list", "audience_list_file": "l.csv", "audience_query": "old", "variant": "B",
        "query_params": {"tier": "gold"}, "source_mailing": "M_1"}))
    a = spec.audience
    assert (a.source, a.list_file, a.query, a.variant, a.query_params, spec.source_mailing) == (
        "list", "l.csv", "", "", {}, "")
