"""SMS platform simulator: a seeded campaign served over a real HTTP event API.

Typical use in tests::

    state = build_state(SimulatorConfig(seed=7, recipients=300, mailings=2))
    with SimulatorServer(state, token="secret") as sim:
        ...  # talk to sim.base_url
"""

from __future__ import annotations

from .app import ApiConfig, create_app
from .faults import FaultConfig
from .model import SimulatorConfig, build_campaign
from .push import PushError, PushState, WaveBehaviour
from .server import SimulatorServer
from .state import Contact, PageError, PlatformState

__all__ = [
    "ApiConfig",
    "Contact",
    "FaultConfig",
    "PageError",
    "PlatformState",
    "PushError",
    "PushState",
    "SimulatorConfig",
    "SimulatorServer",
    "WaveBehaviour",
    "build_state",
    "create_app",
]


def build_state(config: SimulatorConfig) -> PlatformState:
    """Generate the campaign described by ``config`` and load it into a fresh state."""
    return PlatformState(build_campaign(config))
