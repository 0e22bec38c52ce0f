"""SMS platform simulator: a seeded campaign served over a real HTTP event API.

Typical use in tests::

    state = build_state(SimulatorConfig(seed=7, recipients=300, mailings=2))
    with SimulatorServer(state, token="secret") as sim:
        ...  # talk to sim.base_url

Modules, from the campaign model up to the HTTP face:

* ``vocabulary`` (codes, keywords, naming rules) and ``clock`` (integer microseconds);
* the campaign model: ``config`` (``SimulatorConfig``), ``generator`` (per-recipient behaviour),
  ``build`` (a campaign and its published record log), ``records`` (entities, records, envelopes,
  facts) and ``truth`` (the simulator's own ground truth); ``metrics_query`` and ``metrics_truth``
  (every campaign metric of docs/metrics.md, from the published facts);
* ``state``: the platform's event log and contact book;
* the push side: ``contacts`` (contact imports), ``wave`` (reactions to a send, and of a wave's
  holdout), ``messages``, ``links`` (short links) and ``sends`` (``PushState``: exactly-once batch
  sends, wave holdouts), ``errors``;
* ``opt_status`` (the opt-status export) and ``customers`` (the brand's customer table, its CRM, and the
  truth of a tier query on it; ``customer_table`` writes it to PostgreSQL);
* ``faults``: event-API faults, the page gate and the send gate; ``resets`` (the ``reset`` fault's
  connection reset);
* HTTP: ``app`` (``create_app``) with ``event_routes``, ``push_routes`` and ``routing``; ``server``
  runs it in a thread, ``__main__`` from the command line.
"""

from __future__ import annotations

from .app import ApiConfig, create_app
from .build import build_campaign
from .config import SimulatorConfig
from .errors import PushError
from .faults import FaultConfig
from .sends import PushState
from .server import SimulatorServer
from .state import Contact, PageError, PlatformState
from .wave import WaveBehaviour

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
