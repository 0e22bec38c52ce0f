"""The platform's vocabulary: event codes, interaction types, keywords, message texts and naming rules.

Everything a campaign is written in, and the few rules that read it back: how the campaign tool
sanitises a mailing name, how many SMS parts a body takes, and which reply is an opt-out.
"""

from __future__ import annotations

import math
import re

SENT = "sentSMS"
INTERACTED = "interactedSMS"
EVENT_CODES: tuple[str, ...] = (SENT, INTERACTED)

INTERACTION_TYPES: tuple[str, ...] = ("click", "reply", "action", "opt_out", "opt_in", "conversion")
RESPONSE_TYPES: frozenset[str] = frozenset({"click", "reply", "action", "conversion"})

DELIVERY_STATUSES: tuple[str, ...] = ("delivered", "failed", "undelivered")
HARD_FAILURE_CODES: dict[int, str] = {30005: "failed", 30006: "failed"}
SOFT_FAILURE_CODES: dict[int, str] = {30003: "undelivered", 30007: "undelivered", 30008: "failed"}

STOP_KEYWORDS: tuple[str, ...] = (
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPT OUT",
)
# A reply's keyword is its first word, so a two-word keyword can never arrive as a reply.
SINGLE_WORD_STOP_KEYWORDS: tuple[str, ...] = tuple(k for k in STOP_KEYWORDS if " " not in k)
OPT_IN_KEYWORDS: tuple[str, ...] = ("START", "UNSTOP")

ACTION_NAMES: tuple[str, ...] = ("Shop now", "Remind me later", "Not interested")
# First words must stay clear of STOP/START keywords, otherwise a plain reply would
# silently become an opt-out/opt-in for the importer.
REPLY_TEXTS: tuple[str, ...] = (
    "Yes please!",
    "What time does the sale end?",
    "Thanks, love it",
    "Is this valid in store too?",
    "More info please",
    "ok",
    "Can I use it online?",
    "Do you ship to Canada?",
    "Sounds great",
    "When does it expire?",
)

MALFORMED_KINDS: tuple[str, ...] = (
    "missing_phone",
    "unparseable_phone",
    "bad_timestamp",
    "missing_event_id",
    "unknown_code",
    "invalid_interaction_type",
    "envelope_not_object",
    "events_not_list",
    "attributes_not_list",
    "missing_mailing_name",
    "naive_timestamp",
)
UNPARSEABLE_PHONES: tuple[str, ...] = ("12345", "call me", "")
BAD_TIMESTAMPS: tuple[str, ...] = ("not-a-date", "2026-13-45T99:00:00Z")

PROCESS_BOX_THEMES: tuple[str, ...] = (
    "Offer",
    "Reminder",
    "Last Chance!",
    "Thank-You Bonus",
    "Flash Sale",
    "Re-engage",
    "Final Call",
    "Weekend Deal",
)
MESSAGE_TEMPLATES: tuple[str, ...] = (
    "ShopCo: Our holiday sale is live - 25% off everything today only! Shop now: {url} Reply STOP to opt out",
    "ShopCo: Reminder - your 25% off code SAVE25 expires tonight. {url} Txt STOP to end",
    # The emoji forces UCS-2 encoding, so this one is split into several parts.
    "ShopCo \U0001f381 Last chance! Free gift with every order over $50 while stocks last. "
    "Grab yours: {url} Reply STOP to unsubscribe",
    "ShopCo: Thanks for being with us! Here is an extra 10% off your next order: {url} Reply STOP to opt out",
)
LINK_BASE = "https://sms.shop.example/"


def landing_url(mailing_name: str) -> str:
    """Where a campaign mailing's per-recipient short links lead; a click event reports it as ``url``
    (with the short link's token as ``linkToken``), as platforms report the link that was clicked."""
    box = mailing_name.split("_")[1] if mailing_name.count("_") >= 2 else mailing_name
    return f"https://shop.example/{box.lower()}"
# Where a web-shop conversion happens that no text message led to (a holdout member buying anyway).
SHOP_CHECKOUT_URL = "https://shop.example/checkout"

# Real, valid NANP area codes; picking from these keeps the validity retry loop short.
US_AREA_CODES: tuple[int, ...] = (
    201, 202, 203, 206, 212, 213, 214, 215, 216, 303, 305, 310, 312, 313, 314, 404,
    407, 408, 412, 415, 469, 503, 512, 602, 615, 617, 646, 702, 704, 713, 718, 720,
    727, 773, 801, 813, 818, 857, 904, 917, 919, 954, 972, 978,
)  # fmt: skip
US_CARRIERS: tuple[str, ...] = ("Verizon Wireless", "AT&T Mobility", "T-Mobile USA", "US Cellular")
GB_CARRIERS: tuple[str, ...] = ("EE", "Vodafone UK", "O2 UK", "Three UK")
# Offsets (minutes) the platform uses when rendering a US contact's event times.
US_RENDER_OFFSETS: tuple[int, ...] = (0, 0, 0, -300, -360, -480)

GSM7_CHARS = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# GSM 03.38 extension table: each character costs an escape plus itself (two septets).
GSM7_EXTENSION_CHARS = frozenset("\f^{}\\[~]|€")


def sanitise_name(raw: str) -> str:
    """Mimic the campaign tool: anything outside [A-Za-z0-9_] becomes a single '_'."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", raw).strip("_")


def is_gsm7(body: str) -> bool:
    """Whether the body can go out in GSM-7: every character in the basic or the extension table."""
    return all(ch in GSM7_CHARS or ch in GSM7_EXTENSION_CHARS for ch in body)


def sms_parts(body: str) -> int:
    if is_gsm7(body):
        single, multi = 160, 153
        units = len(body) + sum(ch in GSM7_EXTENSION_CHARS for ch in body)
    else:
        # UCS-2 counts UTF-16 code units; astral characters (emoji) take two.
        single, multi = 70, 67
        units = len(body.encode("utf-16-le")) // 2
    return 1 if units <= single else math.ceil(units / multi)


def reply_keyword(text: str) -> str:
    words = text.split()
    return re.sub(r"[^A-Za-z0-9]", "", words[0]).upper() if words else ""


def opt_event_kind(code: str, interaction: str | None, keyword: str | None) -> str | None:
    """``opt_out`` / ``opt_in`` when the event changes consent (a STOP- / START-family reply does), else None."""
    if code != INTERACTED:
        return None
    if interaction in ("opt_out", "opt_in"):
        return interaction
    if interaction == "reply" and keyword in STOP_KEYWORDS:
        return "opt_out"
    if interaction == "reply" and keyword in OPT_IN_KEYWORDS:
        return "opt_in"
    return None


def is_opt_out_event(code: str, interaction: str | None, keyword: str | None) -> bool:
    return opt_event_kind(code, interaction, keyword) == "opt_out"
