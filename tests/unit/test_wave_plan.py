"""Planning a wave: per-recipient rendering and short links."""

from __future__ import annotations

import itertools
from datetime import date

from sms_response.waves.audience import AudienceMember
from sms_response.waves.plan import render_message

MEMBER = AudienceMember("+12125550100", "c1", "ada@x.example", "Ada", "Lovelace", "10001", date(1990, 1, 2),
                        {"loyalty tier": "gold"})


def test_every_link_gets_its_own_short_link_and_fields_are_filled() -> None:
    tokens = (f"tok{i:09d}" for i in itertools.count())
    msg = render_message("Hi {given_name} ({custom_loyalty_tier}): https://a.example/x and https://b.example/y.",
                         MEMBER, "https://t.example/r/", token=lambda: next(tokens))
    assert msg.body == "Hi Ada (gold): https://t.example/r/tok000000000 and https://t.example/r/tok000000001."
    assert msg.links == [(0, "tok000000000", "https://a.example/x"), (1, "tok000000001", "https://b.example/y")]
    assert msg.parts == 1 and msg.warning is None


def test_a_long_short_link_domain_that_adds_a_part_is_warned_about() -> None:
    template = "x" * 140 + " https://a.b/c"
    msg = render_message(template, MEMBER, "https://a-very-long-tracking-domain.example/r", token=lambda: "t" * 12)
    assert msg.parts == 2 and msg.warning is not None and "2 parts instead of 1" in msg.warning
