"""The brand's customer table (its CRM), derived from the platform state, and the truth of a query on it.

A wave's first audience comes from a customer query (``SELECT * FROM crm.customers WHERE loyalty_tier =
'gold'``), so the simulator provides the CRM those queries read, consistent with its own model:

* one customer per platform contact with a number, plus ``UNKNOWN_SHARE`` (5 %, rounded up) customers whose
  valid numbers are not among the platform's contacts: a profile import drops them as unknown;
* the phone as a CRM stores it: US numbers as E.164 (40 %), ``(212) 555-0134`` (30 %), ``212.555.0134``
  (20 %) or ``212-555-0134`` (10 %); UK numbers as E.164 or ``+44 7400 123456`` (half each), never national
  (``07400 123456`` reads as a US number where the default region is US). Every one parses, with region US, to
  the contact's E.164 number;
* what the platform holds of a contact agrees: the number, and its region: a US customer has the ZIP code and
  store of the area code's city, a UK customer a UK postcode. The platform holds no names, e-mails or
  birthdays of its own (a profile import writes them, from this table);
* ``loyalty_tier``: ``bronze`` 65 %, ``silver`` 25 %, ``gold`` 10 %; ``preferred_store``: the city's store,
  or ``Online`` for one in five; ``birthday``: 18 to 80 years before the campaign; ``signup_date``: in the
  five years before the campaign, and on or before the day the contact opted in to texts (``opt_status``).

Every draw comes from a stream seeded by the campaign seed and the contact id, so a contact's customer
record is the same in every build and independent of the other contacts.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import phonenumbers

from .clock import from_us, to_us
from .config import DEFAULT_CAMPAIGN_START
from .opt_status import OptStatusExport, initial_opt_in_us
from .state import PlatformState
from .vocabulary import US_AREA_CODES

TABLE_COLUMNS: tuple[str, ...] = (
    "customer_id", "phone", "first_name", "last_name", "email", "postal_code", "birthday",
    "loyalty_tier", "preferred_store", "signup_date",
)  # fmt: skip
# The columns the contact loader and a profile import treat as custom fields; the platform must know them.
CUSTOM_COLUMNS: tuple[str, ...] = ("customer_id", "loyalty_tier", "preferred_store", "signup_date")
TIERS: tuple[tuple[str, float], ...] = (("gold", 0.10), ("silver", 0.25), ("bronze", 0.65))
UNKNOWN_SHARE = 0.05
UNKNOWN_GB_SHARE = 0.05  # of the unknown customers' numbers
ONLINE_SHARE = 0.2
US_PHONE_STYLES: tuple[tuple[str, float], ...] = (("e164", 0.4), ("paren", 0.3), ("dot", 0.2), ("dash", 0.1))
SIGNUP_YEARS = 5
AGE_YEARS = (18, 80)
RULES = {
    "customers": "one per platform contact with a number, plus ceil(5 %) with valid numbers the platform does not know",
    "phones": "customer phone (as stored) normalised to E.164 with default region US",
    "known": "the phone is a platform contact's: a profile import updates it; unknown ones are dropped",
    "opted_in": "known customers whose opt-status export row says opted_in now (unknown ones have no row)",
}

# Area code -> (first three ZIP digits, city): where a US number's customer lives and shops.
US_AREAS: dict[int, tuple[str, str]] = {
    201: ("070", "Jersey City"), 202: ("200", "Washington"), 203: ("065", "New Haven"), 206: ("981", "Seattle"),
    212: ("100", "New York"), 213: ("900", "Los Angeles"), 214: ("752", "Dallas"), 215: ("191", "Philadelphia"),
    216: ("441", "Cleveland"), 303: ("802", "Denver"), 305: ("331", "Miami"), 310: ("904", "Santa Monica"),
    312: ("606", "Chicago"), 313: ("482", "Detroit"), 314: ("631", "St. Louis"), 404: ("303", "Atlanta"),
    407: ("328", "Orlando"), 408: ("951", "San Jose"), 412: ("152", "Pittsburgh"), 415: ("941", "San Francisco"),
    469: ("750", "Plano"), 503: ("972", "Portland"), 512: ("787", "Austin"), 602: ("850", "Phoenix"),
    615: ("372", "Nashville"), 617: ("021", "Boston"), 646: ("100", "New York"), 702: ("891", "Las Vegas"),
    704: ("282", "Charlotte"), 713: ("770", "Houston"), 718: ("112", "Brooklyn"), 720: ("802", "Denver"),
    727: ("337", "St. Petersburg"), 773: ("606", "Chicago"), 801: ("841", "Salt Lake City"), 813: ("336", "Tampa"),
    818: ("914", "Van Nuys"), 857: ("021", "Boston"), 904: ("322", "Jacksonville"), 917: ("100", "New York"),
    919: ("276", "Raleigh"), 954: ("333", "Fort Lauderdale"), 972: ("752", "Dallas"), 978: ("018", "Lowell"),
}  # fmt: skip
GB_AREAS: tuple[tuple[str, str], ...] = (
    ("SW1A", "London"), ("EC2A", "London"), ("M1", "Manchester"), ("B1", "Birmingham"), ("LS1", "Leeds"),
    ("EH1", "Edinburgh"), ("G1", "Glasgow"), ("BS1", "Bristol"), ("CF10", "Cardiff"), ("L1", "Liverpool"),
)  # fmt: skip
GB_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
FIRST_NAMES: tuple[str, ...] = (
    "Olivia", "Liam", "Emma", "Noah", "Amelia", "Oliver", "Sophia", "Elijah", "Isabella", "Mateo", "Mia", "Lucas",
    "Aaliyah", "Levi", "Harper", "Ethan", "Chloe", "Aiden", "Priya", "Jamal", "Mei", "Diego", "Fatima", "Kenji",
    "Grace", "Omar", "Zoe", "Samuel", "Nora", "Andre", "Leah", "Marcus", "Hannah", "Ravi", "Lucia", "Owen",
)  # fmt: skip
LAST_NAMES: tuple[str, ...] = (
    "Smith", "Johnson", "Williams", "Brown", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez", "Lee",
    "Nguyen", "Patel", "Kim", "Walker", "Hall", "Young", "Allen", "King", "Wright", "Lopez", "Hill", "Scott",
    "Green", "Adams", "Baker", "Chen", "Singh", "O'Brien", "Murphy", "Rivera", "Cooper", "Reed", "Ward",
    "Okafor", "Hughes", "Price",
)  # fmt: skip
EMAIL_DOMAINS: tuple[str, ...] = ("example.com", "example.net", "example.org", "mail.example")


@dataclass(frozen=True, slots=True)
class Customer:
    """One row of the customer table; ``e164`` and ``known`` are what the simulator knows of it, not columns."""

    customer_id: str
    phone: str
    first_name: str
    last_name: str
    email: str
    postal_code: str
    birthday: date
    loyalty_tier: str
    preferred_store: str
    signup_date: date
    e164: str
    known: bool

    def row(self) -> tuple[object, ...]:
        """The table row, in ``TABLE_COLUMNS`` order."""
        return tuple(getattr(self, column) for column in TABLE_COLUMNS)


@dataclass(frozen=True, slots=True)
class _Draft:
    """A customer before its id: ids follow a seeded shuffle, so unknown customers are spread through them."""

    e164: str
    region: str
    contact_id: str | None
    opted_in_us: int | None


def _pick(rng: random.Random, shares: Sequence[tuple[str, float]]) -> str:
    u = rng.random()
    for value, share in shares:
        if u < share:
            return value
        u -= share
    return shares[-1][0]


def crm_phone(e164: str, style: str) -> str:
    """``e164`` as a CRM stores it in ``style`` (US: e164 / paren / dot / dash; UK: e164 / international)."""
    if e164.startswith("+1") and len(e164) == 12:
        d = e164[2:]
        return {"e164": e164, "paren": f"({d[:3]}) {d[3:6]}-{d[6:]}", "dot": f"{d[:3]}.{d[3:6]}.{d[6:]}",
                "dash": f"{d[:3]}-{d[3:6]}-{d[6:]}"}[style]
    if style == "e164":
        return e164
    return str(phonenumbers.format_number(phonenumbers.parse(e164), phonenumbers.PhoneNumberFormat.INTERNATIONAL))


def _region(e164: str, region: str | None) -> str:
    if region:
        return region
    return "GB" if e164.startswith("+44") else "US"


def _draw_unknown_phone(rng: random.Random, taken: set[str]) -> tuple[str, str]:
    """A valid number (US, or a UK mobile) that nobody in ``taken`` has; taken afterwards."""
    while True:
        if rng.random() < UNKNOWN_GB_SHARE:
            region, national = "GB", 7_400_000_000 + rng.randrange(600_000_000)
            number = phonenumbers.PhoneNumber(country_code=44, national_number=national)
        else:
            national = rng.choice(US_AREA_CODES) * 10_000_000 + rng.randint(200, 999) * 10_000 + rng.randrange(10_000)
            region, number = "US", phonenumbers.PhoneNumber(country_code=1, national_number=national)
        e164 = f"+{number.country_code}{national}"
        if e164 not in taken and phonenumbers.is_valid_number_for_region(number, region):
            taken.add(e164)
            return e164, region


def _customer(seed: int, campaign_day: date, customer_id: str, draft: _Draft) -> Customer:
    key = draft.contact_id or draft.e164
    rng = random.Random(f"{seed}:customer:{key}")
    if draft.region == "GB":
        style = "e164" if rng.random() < 0.5 else "international"
        outward, city = rng.choice(GB_AREAS)
        postal = f"{outward} {rng.randrange(10)}{rng.choice(GB_INWARD_LETTERS)}{rng.choice(GB_INWARD_LETTERS)}"
    else:
        style = _pick(rng, US_PHONE_STYLES)
        zip3, city = US_AREAS.get(int(draft.e164[2:5]), ("100", "New York"))
        postal = f"{zip3}{rng.randrange(1, 100):02d}"
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    local = f"{first}.{last}".lower().replace("'", "")
    email = f"{local}{customer_id[2:].lstrip('0')}@{rng.choice(EMAIL_DOMAINS)}"
    birthday = campaign_day - timedelta(days=rng.randint(AGE_YEARS[0] * 366, AGE_YEARS[1] * 365))
    latest = campaign_day - timedelta(days=1)
    if draft.opted_in_us is not None:
        latest = min(latest, from_us(draft.opted_in_us).date())
    earliest = campaign_day - timedelta(days=SIGNUP_YEARS * 365)
    signup = earliest + timedelta(days=rng.randint(0, max(0, (latest - earliest).days)))
    tier = _pick(rng, TIERS)
    store = "Online" if rng.random() < ONLINE_SHARE else f"ShopCo {city}"
    return Customer(customer_id, crm_phone(draft.e164, style), first, last, email, postal, birthday, tier, store,
                    signup, draft.e164, draft.contact_id is not None)


def customer_records(state: PlatformState) -> list[Customer]:
    """The customer table of ``state``'s brand, ordered by customer id; the same for the same campaign."""
    campaign = state.campaign
    seed = campaign.config.seed if campaign is not None else 0
    start = campaign.config.campaign_start if campaign is not None else DEFAULT_CAMPAIGN_START
    start_us = to_us(start)
    drafts: list[_Draft] = []
    for contact in sorted(state.contacts(), key=lambda c: c.contact_id):
        if not contact.e164:
            continue  # the platform cannot reach it, so no wave can: the CRM has no use for it
        opted_in = initial_opt_in_us(seed, contact.contact_id, start_us) if campaign is not None else None
        drafts.append(_Draft(contact.e164, _region(contact.e164, contact.region), contact.contact_id, opted_in))
    taken = {d.e164 for d in drafts}
    unknown_rng = random.Random(f"{seed}:customers:unknown")
    for _ in range(math.ceil(len(drafts) * UNKNOWN_SHARE)):
        e164, region = _draw_unknown_phone(unknown_rng, taken)
        drafts.append(_Draft(e164, region, None, None))
    random.Random(f"{seed}:customers:order").shuffle(drafts)
    day = start.date()
    return [_customer(seed, day, f"CU{n:07d}", d) for n, d in enumerate(drafts, start=1)]


def customers_truth(state: PlatformState, loyalty_tier: str | None = None,
                    export: OptStatusExport | None = None) -> dict[str, Any]:
    """Which customers a loyalty-tier filter selects (E.164, sorted) and which of them the platform knows and
    its opt-status export says are opted in now: wave 1 of ``WHERE loyalty_tier = …`` under ``opt_in_required``
    goes to exactly ``opted_in``. ``loyalty_tier`` None selects every customer."""
    if loyalty_tier is not None and loyalty_tier not in {t for t, _ in TIERS}:
        raise ValueError(f"loyalty_tier must be one of {', '.join(t for t, _ in TIERS)}, not {loyalty_tier!r}")
    chosen = [c for c in customer_records(state) if loyalty_tier is None or c.loyalty_tier == loyalty_tier]
    status = {str(r["phone"]): str(r["status"]) for r in (export or OptStatusExport(state)).rows()}
    by_status: dict[str, list[str]] = {"opted_in": [], "opted_out": [], "never_opted_in": []}
    for c in chosen:
        if c.known and status.get(c.e164) in by_status:
            by_status[status[c.e164]].append(c.e164)
    return {
        "filter": {"loyalty_tier": loyalty_tier},
        "rules": RULES,
        "customers": len(chosen),
        "phones": sorted(c.e164 for c in chosen),
        "known": sorted(c.e164 for c in chosen if c.known),
        "unknown": sorted(c.e164 for c in chosen if not c.known),
        **{k: sorted(v) for k, v in by_status.items()},
    }
