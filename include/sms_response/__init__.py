"""SMS response tracking: the Airflow-free domain library.

Modules are named after what they hold: ``window`` (data intervals), ``phones`` (E.164),
``events`` (envelope normalisation), ``mapping`` (attribute → column mapping), ``platform``
(event API client), ``landing`` (immutable landing files), ``download`` and ``load`` (the two
pipeline steps), ``db`` and ``migrate`` (PostgreSQL), ``report`` (counts and reconciliation).
"""

__version__ = "0.1.0"
