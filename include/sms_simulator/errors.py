"""The error the push side answers with 400: a contact import, batch send or send-gate request it refuses."""

from __future__ import annotations


class PushError(ValueError):
    """A request the platform refuses (400 with this message)."""
