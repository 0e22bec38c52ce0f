"""Short-link tokens are unguessable: 72 bits from the operating system's CSPRNG (``secrets``), floor 64 bits.

A wave's links are ``<short_link_base>/<token>``; anyone who guesses a live token could click as its recipient
(and be counted as a response). With 72 bits and 10 million live links, one guess hits some link with probability
10^7 / 2^72 ≈ 2.1e-15; a thousand guesses a second for a year (3.2e10 guesses) expect 7e-5 hits (docs/security.md).
"""

from __future__ import annotations

import inspect
import math
from collections import Counter

import pytest

from sms_response import messages
from sms_response.messages import MIN_TOKEN_BYTES, new_token
from sms_response.waves import plan, sample_gate

URLSAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
FLOOR_BITS = 64


def entropy_bits(token: str) -> float:
    """Bits of a uniformly random token over the URL-safe base64 alphabet (6 bits a character)."""
    assert set(token) <= set(URLSAFE)
    return len(token) * math.log2(len(URLSAFE))


@pytest.mark.scenario("security", "short-link tokens: 72 bits each from the OS CSPRNG, uniform in every position "
                                  "(floor 64 bits enforced)")
def test_short_link_tokens_carry_72_bits_uniformly_from_the_csprng(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = [new_token() for _ in range(20_000)]
    assert {entropy_bits(t) for t in tokens} == {72.0}
    assert len(set(tokens)) == len(tokens)
    # Every position is a full 6 bits (9 bytes = 12 characters exactly): each character uniform over the 64 symbols.
    expected = len(tokens) / 64
    for position in range(12):
        counts = Counter(t[position] for t in tokens)
        assert set(counts) == set(URLSAFE), position
        chi2 = sum((counts[c] - expected) ** 2 / expected for c in URLSAFE)
        assert chi2 < 150, (position, chi2)  # 63 degrees of freedom: p < 1e-9 of a false alarm

    # The floor: no caller can ask for fewer than 64 bits.
    assert MIN_TOKEN_BYTES * 8 == FLOOR_BITS
    with pytest.raises(ValueError):
        new_token(MIN_TOKEN_BYTES - 1)
    assert entropy_bits(new_token(MIN_TOKEN_BYTES)) >= FLOOR_BITS

    # The randomness is the secrets module's (os.urandom), not random's Mersenne Twister.
    monkeypatch.setattr(messages.secrets, "token_urlsafe", lambda n: f"csprng:{n}")
    assert new_token() == "csprng:9"


def test_waves_render_links_with_the_unguessable_token_by_default() -> None:
    """Planning a wave and rendering its full phase take ``new_token`` unless a test passes its own."""
    for fn in (plan.render_message, plan.plan_wave, sample_gate.evaluate_sample):
        default = inspect.signature(fn).parameters["token"].default
        assert default is new_token, fn
