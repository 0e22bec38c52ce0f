"""The ``sms_platform`` connection form the provider entry point declares: valid for Airflow, every labelled field
is an extra the code really reads, and a field the form saves blank means the default."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from sms_rt_airflow.hooks import client_from_connection, short_link_base
from sms_rt_provider import PACKAGE_NAME, PLATFORM_CONN_FIELDS, get_provider_info

REPO = Path(__file__).resolve().parents[2]
READERS = [REPO / "plugins" / "sms_rt_airflow" / "hooks.py", *sorted((REPO / "include" / "sms_response" / "adapters")
                                                                       .glob("*.py"))]


def conn(extra: dict[str, object]) -> SimpleNamespace:
    return SimpleNamespace(host="api.example-sms.com", schema="https", port=None, login="", password="t0k3n",
                           extra_dejson=extra)


def test_the_provider_info_is_valid_for_airflow_and_names_the_distribution() -> None:
    from airflow._shared.providers_discovery.providers_discovery import _create_provider_info_schema_validator

    info = get_provider_info()
    _create_provider_info_schema_validator().validate(info)
    assert info["package-name"] == PACKAGE_NAME
    [platform] = info["connection-types"]
    assert platform["connection-type"] == "sms_platform"
    assert platform["hook-class-name"] == "sms_rt_airflow.hooks.SmsPlatformHook"


def test_every_labelled_field_is_an_extra_the_code_reads() -> None:
    source = "\n".join(p.read_text() for p in READERS)
    read = set(re.findall(r"""extra(?:\.get)?[\[(]\s*["']([a-z_]+)["']""", source))
    ubx_options = (REPO / "include" / "sms_response" / "adapters" / "ubx_options.py").read_text()
    read |= {f"ubx_{k}" for k in re.findall(r'^\s+"([a-z_]+)": ', ubx_options, re.M)}  # ubx_ + its defaults' keys
    read |= set(re.findall(r'_number\(extra, "([a-z_]+)"', source)) | set(re.findall(r'text\("([a-z_]+)"\)', source))
    assert set(PLATFORM_CONN_FIELDS) <= read, set(PLATFORM_CONN_FIELDS) - read
    assert all(field["label"] and field["schema"]["type"] for field in PLATFORM_CONN_FIELDS.values())


@pytest.mark.parametrize("blank", [None, ""])
def test_a_field_saved_blank_means_its_default(blank: object) -> None:
    client = client_from_connection(conn({"timeout_connect": blank, "timeout_read": blank, "retries": blank,
                                          "short_link_base": blank}))
    default = client_from_connection(conn({}))
    assert (client.timeout, client.retry) == (default.timeout, default.retry)
    assert short_link_base(conn({"short_link_base": blank})) == "https://api.example-sms.com/r"


def test_the_form_writes_what_the_client_reads() -> None:
    client = client_from_connection(conn(json.loads('{"timeout_connect": 2.5, "timeout_read": 30, "retries": 3}')))
    assert client.timeout == (2.5, 30.0) and client.retry.attempts == 3
