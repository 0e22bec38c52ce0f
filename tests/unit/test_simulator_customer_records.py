"""The simulator's customer table (its CRM): seeded, consistent with the platform's contacts, and its tier truth."""

from __future__ import annotations

import math
from collections import Counter
from datetime import timedelta

import pytest

from sms_response.phones import PhoneNormaliser
from sms_simulator import SimulatorConfig, build_state
from sms_simulator.clock import from_us, iso, to_us
from sms_simulator.contacts import DEFAULT_CUSTOM_FIELDS
from sms_simulator.customers import (
    CUSTOM_COLUMNS,
    TABLE_COLUMNS,
    US_AREAS,
    Customer,
    crm_phone,
    customer_records,
    customers_truth,
)
from sms_simulator.opt_status import OptStatusExport, initial_opt_in_us
from sms_simulator.records import Event, Fact
from sms_simulator.vocabulary import INTERACTED, US_AREA_CODES

CONFIG = SimulatorConfig(seed=21, recipients=400, mailings=2, gb_share=0.1, national_format_share=0.3)


@pytest.fixture(scope="module")
def customers() -> list[Customer]:
    return customer_records(build_state(CONFIG))


def test_the_same_campaign_gives_the_same_customers_and_another_seed_others(customers: list[Customer]) -> None:
    assert customer_records(build_state(CONFIG)) == customers
    other = customer_records(build_state(SimulatorConfig(seed=22, recipients=400, mailings=2)))
    assert [c.row() for c in other] != [c.row() for c in customers]


def test_every_phone_is_valid_and_resolves_to_its_number_as_the_contact_loader_reads_it(customers: list[Customer]) -> None:
    norm = PhoneNormaliser("US")
    assert all(norm.normalise(c.phone).e164 == c.e164 for c in customers)
    assert len({c.e164 for c in customers}) == len(customers)
    styles = Counter("paren" if c.phone.startswith("(") else "dot" if "." in c.phone
                     else "international" if " " in c.phone else "e164" if c.phone.startswith("+") else "dash"
                     for c in customers)
    assert set(styles) == {"e164", "paren", "dot", "dash", "international"}


def test_each_contact_is_one_customer_and_five_percent_more_are_unknown_to_the_platform(customers: list[Customer]) -> None:
    state = build_state(CONFIG)
    contacts = {c.e164 for c in state.contacts()}
    assert {c.e164 for c in customers if c.known} == contacts
    unknown = [c for c in customers if not c.known]
    assert len(unknown) == math.ceil(len(contacts) * 0.05) and not {c.e164 for c in unknown} & contacts
    # Spread through the ids, not appended at the end.
    assert customers.index(unknown[0]) < len(customers) - len(unknown)
    assert [c.customer_id for c in customers] == [f"CU{n:07d}" for n in range(1, len(customers) + 1)]


def test_region_and_area_code_decide_postal_code_and_store(customers: list[Customer]) -> None:
    region = {c.e164: c.region for c in build_state(CONFIG).contacts()}
    for c in customers:
        if c.e164.startswith("+44"):
            assert region.get(c.e164, "GB") == "GB" and " " in c.postal_code
        else:
            zip3, city = US_AREAS[int(c.e164[2:5])]
            assert c.postal_code.startswith(zip3) and len(c.postal_code) == 5
            assert c.preferred_store in (f"ShopCo {city}", "Online")
    assert set(US_AREA_CODES) <= set(US_AREAS)


def test_dates_tiers_and_columns_are_plausible(customers: list[Customer]) -> None:
    day = CONFIG.campaign_start.date()
    for c in customers:
        assert day - timedelta(days=81 * 366) < c.birthday < day - timedelta(days=18 * 365)
        assert day - timedelta(days=5 * 366) <= c.signup_date < day
    tiers = Counter(c.loyalty_tier for c in customers)
    assert set(tiers) == {"gold", "silver", "bronze"} and tiers["bronze"] > tiers["silver"] > tiers["gold"]
    assert len(customers[0].row()) == len(TABLE_COLUMNS)
    assert set(CUSTOM_COLUMNS) <= set(DEFAULT_CUSTOM_FIELDS)  # a wave of SELECT * pushes them as custom fields


def test_a_customer_signs_up_before_opting_in_to_texts(customers: list[Customer]) -> None:
    start_us = to_us(CONFIG.campaign_start)
    by_phone = {c.e164: c for c in customers}
    for contact in build_state(CONFIG).contacts():
        opted = initial_opt_in_us(CONFIG.seed, contact.contact_id, start_us)
        if opted is not None and contact.e164:
            assert by_phone[contact.e164].signup_date <= from_us(opted).date()


def test_uk_numbers_are_never_stored_national() -> None:
    assert crm_phone("+447400123456", "international") == "+44 7400 123456"
    assert crm_phone("+12125550134", "paren") == "(212) 555-0134"
    assert crm_phone("+12125550134", "dot") == "212.555.0134"


def test_tier_truth_is_the_export_status_of_the_tiers_known_customers_and_follows_a_new_opt_out() -> None:
    state = build_state(CONFIG)
    truth = customers_truth(state, "gold")
    gold = [c for c in customer_records(state) if c.loyalty_tier == "gold"]
    status = {r["phone"]: r["status"] for r in OptStatusExport(state).rows()}
    assert truth["phones"] == sorted(c.e164 for c in gold) and truth["customers"] == len(gold)
    assert truth["unknown"] == sorted(c.e164 for c in gold if not c.known)
    assert truth["opted_in"] == sorted(c.e164 for c in gold if c.known and status[c.e164] == "opted_in")
    assert truth["opted_in"] and truth["never_opted_in"]

    phone = truth["opted_in"][0]
    at_us = to_us(CONFIG.campaign_start) + 30 * 3600 * 10**6
    event = Event("11111111-1111-4111-8111-111111111111", INTERACTED, -1, -1, "WAVE", at_us,
                  interaction="opt_out", keyword="STOP", text="STOP")
    envelope = {"identifiers": [{"name": "phoneNumber", "value": phone}], "events": [{
        "code": INTERACTED, "timestamp": iso(at_us), "attributes": [
            {"name": "eventId", "value": event.event_id}, {"name": "mailingName", "value": "WAVE"},
            {"name": "interactionType", "value": "opt_out"}, {"name": "keyword", "value": "STOP"}]}]}
    state.publish(envelope, from_us(at_us), facts=[Fact(event, phone)])
    after = customers_truth(state, "gold")
    assert phone not in after["opted_in"] and phone in after["opted_out"]


def test_an_unknown_tier_is_refused_naming_the_tiers() -> None:
    with pytest.raises(ValueError, match="gold, silver, bronze"):
        customers_truth(build_state(SimulatorConfig(seed=1, recipients=5, mailings=1)), "platinum")
