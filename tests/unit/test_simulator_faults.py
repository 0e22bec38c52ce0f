"""Event-API faults: decisions are reproducible and a page fails a bounded number of times in a row; the page gate."""

from __future__ import annotations

import asyncio
import threading

import pytest

from sms_simulator import FaultConfig, PushError
from sms_simulator.faults import FaultDecider, PageGate, decide


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


def test_resets_and_duplicated_pages_keep_the_older_kinds_decisions_and_are_bounded() -> None:
    older = FaultConfig(rate_429=0.15, rate_5xx=0.15, rate_cut=0.15, fault_seed=4)
    newer = FaultConfig(rate_429=0.15, rate_5xx=0.15, rate_cut=0.15, rate_reset=0.15, rate_dup=0.15, fault_seed=4)
    for attempt in range(100):  # a replayed scenario of the older kinds sees the same faults as before
        before, after = decide(older, "p", attempt, 0), decide(newer, "p", attempt, 0)
        if before.fault is not None:
            assert (after.fault, after.status, after.cut_mode) == (before.fault, before.status, before.cut_mode)
    kinds = {decide(newer, f"page-{i}", 0, 0).fault for i in range(300)}
    assert {"reset", "dup", "429", "5xx", "cut", None} == kinds
    decider = FaultDecider(FaultConfig(rate_reset=1.0, max_faults_per_page=3))
    assert [decider.decide("k").fault for _ in range(5)] == ["reset", "reset", "reset", None, "reset"]
    assert FaultConfig().updated({"rate_dup": 1}).rate_dup == 1.0 and FaultConfig(rate_reset=0.1).any_enabled
    with pytest.raises(ValueError, match="rate_reset"):
        FaultConfig(rate_reset=0.6, rate_dup=0.6)


def test_the_page_gate_holds_the_page_after_k_until_released() -> None:
    gate = PageGate()
    gate.arm(2)
    admitted: list[int] = []

    async def three_pages() -> None:
        for n in range(3):
            await gate.admit()
            admitted.append(n)

    runner = threading.Thread(target=asyncio.run, args=(three_pages(),))
    runner.start()
    assert gate.wait_blocked(timeout=10)
    assert admitted == [0, 1] and gate.status() == {"armed": True, "blocked": True, "pages_since_armed": 2}
    gate.release()
    runner.join(timeout=10)
    assert admitted == [0, 1, 2] and not gate.status()["armed"]
    with pytest.raises(PushError):
        gate.arm(-1)
