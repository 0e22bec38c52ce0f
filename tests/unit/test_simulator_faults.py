"""Event-API faults: decisions are reproducible and a page fails a bounded number of times in a row."""

from __future__ import annotations

import pytest

from sms_simulator import FaultConfig
from sms_simulator.faults import FaultDecider, decide


def test_fault_decisions_are_reproducible_and_bounded_per_page() -> None:
    config = FaultConfig(rate_429=0.5, rate_5xx=0.5, max_faults_per_page=2, fault_seed=9)
    assert decide(config, "page-a", 0, 0) == decide(config, "page-a", 0, 0)
    decider = FaultDecider(config)
    outcomes = [decider.decide("page-a").fault for _ in range(6)]
    assert outcomes[:2] != [None, None] and outcomes[2] is None  # at most two failures in a row
    replay = FaultDecider(config)
    assert [replay.decide("page-a").fault for _ in range(6)] == outcomes
    assert FaultDecider(FaultConfig()).decide("x").fault is None
    with pytest.raises(ValueError):
        config.updated({"rate_cut": 0.5})  # 0.5 + 0.5 + 0.5 > 1
    with pytest.raises(ValueError):
        config.updated({"nope": 1})
    assert config.updated({"retry_after": 3}).retry_after == 3
