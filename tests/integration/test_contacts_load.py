"""Contacts loaded into PostgreSQL: upsert by phone, idempotent reloads, all or nothing, read-only sources."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from sms_response.cli import main
from sms_response.contacts import SourceError, csv_source, load_contacts, query_source, relation_source
from sms_response.rejects import RejectedRows

pytestmark = pytest.mark.integration

Conn = psycopg.Connection[Any]
GOOD = ("Phone,Email Address,First Name,Last Name,Postal Code,Birthday,Loyalty Tier\n"
        "(201) 555-0100,ann@example.com,Ann,Lee,07030,1990-04-02,Gold\n"
        "+12125550101,bob@example.com,Bob,Ray,10001,,Silver\n")


def write(tmp_path: Path, text: str, name: str = "contacts.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def contacts(db: Conn) -> list[tuple[Any, ...]]:
    rows = db.execute("SELECT phone_e164, email, given_name, surname, postal_code, birthdate::text, custom, "
                      "updated_at FROM contacts ORDER BY phone_e164").fetchall()
    db.commit()
    return rows


def test_a_csv_loads_contacts_with_system_and_platform_custom_fields(db: Conn, tmp_path: Path) -> None:
    result = load_contacts(db, csv_source(write(tmp_path, GOOD)), known_custom=["loyalty_tier", "preferred_store"])
    assert (result.rows, result.inserted, result.updated, result.unchanged) == (2, 2, 0, 0)
    assert [r[:7] for r in contacts(db)] == [
        ("+12015550100", "ann@example.com", "Ann", "Lee", "07030", "1990-04-02", {"loyalty_tier": "Gold"}),
        ("+12125550101", "bob@example.com", "Bob", "Ray", "10001", None, {"loyalty_tier": "Silver"}),
    ]


def test_loading_the_same_file_again_changes_no_row(db: Conn, tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    load_contacts(db, csv_source(path))
    before = contacts(db)
    again = load_contacts(db, csv_source(path))
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    assert contacts(db) == before  # updated_at included


def test_a_sync_updates_the_fields_it_has_and_keeps_the_rest_and_absent_contacts(db: Conn, tmp_path: Path) -> None:
    load_contacts(db, csv_source(write(tmp_path, GOOD)))
    db.execute("UPDATE contacts SET custom = custom || '{\"preferred_store\": \"Hoboken\"}' "
               "WHERE phone_e164 = '+12015550100'")
    db.commit()
    result = load_contacts(db, csv_source(write(tmp_path, "phone,first name,loyalty_tier\n"
                                                         "201-555-0100,Annie,\n+13125550102,Cy,Bronze\n", "sync.csv")))
    assert (result.inserted, result.updated, result.unchanged) == (1, 1, 0)
    rows = {r[0]: r for r in contacts(db)}
    ann = rows["+12015550100"]
    # first name replaced; email, surname, postal code, birthday kept (no column); empty tier removed, other kept
    assert ann[1:7] == ("ann@example.com", "Annie", "Lee", "07030", "1990-04-02", {"preferred_store": "Hoboken"})
    assert rows["+12125550101"][2] == "Bob"  # absent from the source: kept
    assert rows["+13125550102"][6] == {"Loyalty_Tier": "Bronze"}  # the stored spelling of the field


def test_a_file_with_bad_rows_loads_nothing_and_names_every_row(db: Conn, tmp_path: Path) -> None:
    load_contacts(db, csv_source(write(tmp_path, GOOD)))
    before = contacts(db)
    bad = write(tmp_path, "phone,first name,birthday\n+12015550100,Changed,\n12,X,\n+1 201 555 0100,Dup,\n"
                          "+14155550103,Eve,1990-13-01\n", "bad.csv")
    with pytest.raises(RejectedRows) as err:
        load_contacts(db, csv_source(bad))
    assert [r.line for r in err.value.rejects] == [3, 4, 5]
    assert "line 3:" in str(err.value) and "line 4: duplicate phone +12015550100: line 2" in str(err.value)
    assert contacts(db) == before


def test_an_unknown_custom_field_loads_nothing_and_names_the_field(db: Conn, tmp_path: Path) -> None:
    with pytest.raises(RejectedRows, match="unknown custom field 'Shoe Size'"):
        load_contacts(db, csv_source(write(tmp_path, "phone,Shoe Size\n+12015550100,9\n")), known_custom=["tier"])
    assert contacts(db) == []


def test_a_view_and_a_saved_query_load_contacts_read_only(db: Conn, tmp_path: Path) -> None:
    db.execute("CREATE TABLE customers (mobile text, given_name text, tier text, vip boolean)")
    db.execute("INSERT INTO customers VALUES ('+12015550100', 'Ann', 'Gold', true), ('2125550101', 'Bob', NULL, false)")
    db.execute("CREATE VIEW customer_audience AS SELECT mobile AS phone, given_name AS \"First Name\", "
               "tier AS \"Loyalty Tier\" FROM customers")
    db.commit()
    via_view = load_contacts(db, relation_source(db, "customer_audience", "view"), known_custom=["loyalty_tier"])
    assert via_view.inserted == 2
    query = write(tmp_path, "-- VIPs\nSELECT mobile AS phone, vip FROM customers WHERE tier LIKE '%%Go%%' OR vip;\n",
                  "vip.sql")
    via_query = load_contacts(db, query_source(db, query))
    assert (via_query.rows, via_query.updated) == (1, 1)
    assert [r[6] for r in contacts(db)] == [{"loyalty_tier": "Gold", "vip": True}, {}]


def test_a_query_that_writes_is_refused_by_the_read_only_transaction_and_writes_nothing(db: Conn,
                                                                                        tmp_path: Path) -> None:
    load_contacts(db, csv_source(write(tmp_path, GOOD)))
    query = write(tmp_path, "WITH gone AS (DELETE FROM contacts RETURNING phone_e164 AS phone) SELECT * FROM gone",
                  "sneaky.sql")
    with pytest.raises(SourceError, match="tries to write .*read-only"):
        load_contacts(db, query_source(db, query))
    assert len(contacts(db)) == 2


def test_a_missing_view_is_named(db: Conn) -> None:
    with pytest.raises(SourceError, match="no view named 'no_such_audience'"):
        relation_source(db, "no_such_audience", "view")


def test_the_cli_loads_a_csv_and_reports_a_bad_one(monkeypatch: pytest.MonkeyPatch, pg_url: str, schema: str,
                                                   db: Conn, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SMS_RT_DATABASE_URL", pg_url)
    monkeypatch.setenv("SMS_RT_SCHEMA", schema)
    assert main(["contacts", "load", "--csv", str(write(tmp_path, GOOD))]) == 0
    assert "2 inserted" in capsys.readouterr().out
    assert main(["contacts", "load", "--csv", str(write(tmp_path, "phone\nxyz\n", "bad.csv"))]) == 2
    assert "line 2:" in capsys.readouterr().err
    assert main(["contacts", "load", "--view", "nope"]) == 2
    assert "no view named 'nope'" in capsys.readouterr().err
