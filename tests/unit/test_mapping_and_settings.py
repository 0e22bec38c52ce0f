from __future__ import annotations

from pathlib import Path

import pytest

from sms_response.errors import ConfigError, MappingError
from sms_response.mapping import load_mapping, parse_mapping
from sms_response.settings import Settings


def test_packaged_mapping_covers_both_event_codes() -> None:
    m = load_mapping()
    assert set(m.codes) == {"sentSMS", "interactedSMS"}
    assert m.codes["sentSMS"].copy_columns[:4] == ("event_id", "phone_e164", "contact_id", "sent_at")
    assert "mailingName" in m.codes["interactedSMS"].mapped_attributes


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (None, "expected a mapping"),
        ({"sentSMS": "x"}, "expected keys"),
        ({"sentSMS": {"table": "Bad-Name", "time_column": "t", "columns": {"a": {"attribute": "a"}}}}, "identifier"),
        ({"sentSMS": {"table": "t", "time_column": "ts", "columns": {}}}, "columns"),
        ({"sentSMS": {"table": "t", "time_column": "ts", "columns": {"c": {"attribute": "a", "type": "blob"}}}}, "type"),
        ({"sentSMS": {"table": "t", "time_column": "ts", "columns": {"load_id": {"attribute": "a"}}}}, "filled by"),
        ({"sentSMS": {"table": "t", "time_column": "ts", "columns": {"c": {"attribute": "a", "x": 1}}}}, "unknown keys"),
        ({"sentSMS": {"table": "t", "time_column": "ts", "columns": {"c": "a"}}}, "expected {attribute"),
    ],
)
def test_invalid_mappings_fail_with_a_pointed_message(doc: object, message: str) -> None:
    with pytest.raises(MappingError, match=message):
        parse_mapping(doc, "site.yaml")


def test_mapping_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="cannot read mapping file"):
        load_mapping(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("sentSMS: [unclosed", encoding="utf-8")
    with pytest.raises(MappingError, match="bad.yaml: not valid YAML"):
        load_mapping(bad)


def test_settings_from_env_validates() -> None:
    s = Settings.from_env({"SMS_RT_SCHEMA": "tenant_a", "SMS_RT_DEFAULT_REGION": "gb", "SMS_RT_LOCAL_DIR": "/tmp/x"})
    assert s.schema == "tenant_a" and s.default_region == "GB"
    assert s.landing_root == Path("/tmp/x/landing") and s.embedded_pgdata == Path("/tmp/x/pgdata")
    assert s.database_url is None
    with pytest.raises(ConfigError, match="SMS_RT_SCHEMA"):
        Settings.from_env({"SMS_RT_SCHEMA": 'x"; drop table y; --'})
    with pytest.raises(ConfigError, match="two-letter"):
        Settings.from_env({"SMS_RT_DEFAULT_REGION": "USA"})
    with pytest.raises(ConfigError, match="integers"):
        Settings.from_env({"SMS_RT_PAGE_SIZE": "many"})


def test_import_fast_path_flag() -> None:
    assert Settings.from_env({}).import_fast_path is True
    assert Settings.from_env({"SMS_RT_IMPORT_FAST_PATH": "0"}).import_fast_path is False
    assert Settings.from_env({"SMS_RT_IMPORT_FAST_PATH": " Off "}).import_fast_path is False
    assert Settings.from_env({"SMS_RT_IMPORT_FAST_PATH": "yes"}).import_fast_path is True
    with pytest.raises(ConfigError, match="SMS_RT_IMPORT_FAST_PATH='maybe'"):
        Settings.from_env({"SMS_RT_IMPORT_FAST_PATH": "maybe"})
