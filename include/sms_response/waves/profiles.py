"""The profile updates of a wave, sample first: one contact import per phase, each started once and finished once.

The sample's profiles are pushed before the sample is sent; the rest of the audience's only after the sample gate
passed, so a sample that fails (gate below the threshold, or a failed import) leaves everyone else untouched on the
platform. Custom contact attributes of the whole wave must match custom fields on the platform
(else :class:`UnknownCustomField` before anything is pushed or sent); numbers the platform drops as unknown are
marked ``dropped`` and never sent. State lives in ``wave_profile_imports``, one row per (wave, phase).
"""

from __future__ import annotations

import base64
import csv
import io
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sms_response.contacts.fields import custom_field_name
from sms_response.platform import SmsPlatformClient
from sms_response.sqlfiles import load_sql
from sms_response.waves.request import WaveError
from sms_response.waves.store import Conn, require_autocommit, set_status, wave_status

log = logging.getLogger(__name__)

PHASES = ("sample", "full")
SYSTEM_COLUMNS = (("phone", "phone_e164"), ("email", "email"), ("first_name", "given_name"),
                  ("last_name", "surname"), ("postal_code", "postal_code"), ("birthday", "birthdate"))
# Where the wave must stand for a phase's profiles to be pushed: the rest of the audience only once the gate passed.
PUSHABLE_IN = {"sample": ("planned",), "full": ("sample_passed", "sending", "completed")}


class UnknownCustomField(WaveError):
    """A contact attribute has no matching custom field on the platform; nothing was sent."""


@dataclass(frozen=True)
class ProfileImport:
    """One phase's contact import as ``wave_profile_imports`` holds it."""

    mailing_name: str
    phase: str
    import_id: str | None
    status: str  # started | completed | failed
    recipients: int
    updated: int | None = None
    dropped_unknown: int | None = None
    reason: str | None = None

    @property
    def finished(self) -> bool:
        return self.status != "started"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _check_phase(phase: str) -> None:
    if phase not in PHASES:
        raise ValueError(f"phase must be sample or full, not {phase!r}")


def _unknown_fields(attributes: Sequence[str], known_custom: Sequence[str]) -> None:
    unknown = sorted({custom_field_name(k) for k in attributes} - set(known_custom))
    if unknown:
        raise UnknownCustomField(
            f"contact attribute(s) {', '.join(repr(u) for u in unknown)} match no custom field on the platform "
            f"(known: {', '.join(known_custom) or 'none'}); create the field(s) or drop the attribute. "
            "Nothing was sent."
        )


def profile_import_file(conn: Conn, mailing: str, phase: str,
                        known_custom: Sequence[str]) -> tuple[str, list[dict[str, Any]], int]:
    """Base64 CSV and column mappings of one phase's recipients (holdout excluded: they get nothing)."""
    _check_phase(phase)
    rows = conn.execute(load_sql("wave_profile_rows"), {"mailing": mailing, "phase": phase}).fetchall()
    custom_keys = sorted({k for r in rows for k in r[6]})
    _unknown_fields(custom_keys, known_custom)
    fields = {k: custom_field_name(k) for k in custom_keys}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([name for name, _ in SYSTEM_COLUMNS] + [fields[k] for k in custom_keys])
    for r in rows:
        custom = r[6]
        writer.writerow([("" if v is None else str(v)) for v in r[:6]]
                        + [("" if custom.get(k) is None else str(custom[k])) for k in custom_keys])
    mappings = [{"column_index": i, "field": name} for i, (name, _) in enumerate(SYSTEM_COLUMNS)]
    mappings += [{"column_index": len(SYSTEM_COLUMNS) + i, "field": f"custom:{fields[k]}"}
                 for i, k in enumerate(custom_keys)]
    return base64.b64encode(out.getvalue().encode()).decode(), mappings, len(rows)


def phase_import(conn: Conn, mailing: str, phase: str) -> ProfileImport | None:
    """The phase's contact import of the wave, or None when it was never started."""
    row = conn.execute(load_sql("wave_profile_import"), {"mailing": mailing, "phase": phase}).fetchone()
    return None if row is None else ProfileImport(*row)


def profile_imports(conn: Conn, mailing: str) -> list[ProfileImport]:
    """Every phase's contact import of the wave, sample first."""
    return [ProfileImport(*r) for r in conn.execute(load_sql("wave_profile_imports_of"), {"mailing": mailing})]


def _failed(imp: ProfileImport) -> WaveError:
    return WaveError(imp.reason or f"wave {imp.mailing_name}: the {imp.phase} phase's contact import failed")


def start_profile_update(conn: Conn, client: SmsPlatformClient, mailing: str, phase: str) -> ProfileImport:
    """Start (once) the contact update import of one phase's recipients; returns it (``started``, or ``completed``
    when there was nobody to push or a previous attempt already finished it).

    The platform is called under the phase's lock and the import id is recorded in the same transaction, so a
    retried or concurrent attempt finds the started import instead of starting a second one. (A process killed
    after the platform accepted the import but before the commit starts it again: the platform then updates the
    same profiles twice, which changes nothing.)
    """
    _check_phase(phase)
    require_autocommit(conn)
    with conn.transaction():
        conn.execute(load_sql("wave_profile_import_lock"), {"mailing": mailing, "phase": phase})
        existing = phase_import(conn, mailing, phase)
        if existing is not None:
            if existing.status == "failed":
                raise _failed(existing)
            return existing
        status = wave_status(conn, mailing)
        if status not in PUSHABLE_IN[phase]:
            raise WaveError(
                f"wave {mailing} is {status}: the {phase} phase's profiles are pushed only when the wave is "
                f"{' or '.join(PUSHABLE_IN[phase])}" + ("; the rest of the audience was left untouched"
                                                        if phase == "full" else "")
            )
        fields = client.contact_fields()
        if phase == "sample":  # the whole wave's attributes: an unknown one must fail before the sample is sent
            keys = [str(r[0]) for r in conn.execute(load_sql("wave_profile_custom_keys"), {"mailing": mailing})]
            _unknown_fields(keys, fields["custom"])
        file_b64, mappings, n = profile_import_file(conn, mailing, phase, fields["custom"])
        resource_id = client.start_contact_import(file_b64, mappings) if n else None
        imp = ProfileImport(mailing, phase, resource_id, "started" if n else "completed", n,
                            None if n else 0, None if n else 0)
        conn.execute(load_sql("wave_profile_import_start"),
                     {"mailing": mailing, "phase": phase, "import_id": resource_id, "status": imp.status,
                      "recipients": n, "updated": imp.updated, "dropped_unknown": imp.dropped_unknown})
        if not n:
            _phase_done(conn, mailing, phase)
    log.info("wave %s: %s phase's contact update import %s for %d recipient(s)", mailing, phase,
             resource_id or "not needed", n)
    return imp


def _phase_done(conn: Conn, mailing: str, phase: str) -> None:
    # The sample's profiles updated is the wave's first step after the plan; the full phase's import is read from
    # wave_profile_imports (the wave stays sample_passed until its full send starts).
    if phase == "sample" and wave_status(conn, mailing) == "planned":
        set_status(conn, mailing, "profiles_updated")


def finish_profile_update(conn: Conn, mailing: str, phase: str, status: Mapping[str, Any]) -> ProfileImport:
    """Record (once) a phase's finished import from the platform's status answer: the phones it dropped as unknown
    are not sent. A failed import fails the wave (``failed``, with the reason): nothing more is pushed or sent."""
    _check_phase(phase)
    require_autocommit(conn)
    state = status.get("status")
    if state not in ("Completed", "Failed"):
        raise WaveError(f"wave {mailing}: the {phase} phase's import is {state!r}, not finished")
    with conn.transaction():
        conn.execute(load_sql("wave_profile_import_lock"), {"mailing": mailing, "phase": phase})
        current = phase_import(conn, mailing, phase)
        if current is None:
            raise WaveError(f"wave {mailing}: no {phase} phase contact import was started")
        if current.finished:
            finished = current
        elif state == "Failed":
            after = ("nothing was sent" if phase == "sample"
                     else "the rest of the audience was not sent")
            reason = (f"contact import failed ({phase} phase, import {current.import_id}): "
                      f"{status.get('message', 'no reason given')}; {after}")
            conn.execute(load_sql("wave_profile_import_finish"),
                         {"mailing": mailing, "phase": phase, "status": "failed", "updated": None,
                          "dropped_unknown": None, "reason": reason})
            set_status(conn, mailing, "failed", reason)
            finished = ProfileImport(mailing, phase, current.import_id, "failed", current.recipients, reason=reason)
        else:
            dropped = [str(p) for p in status.get("dropped_unknown") or []]
            updated = int(status.get("updated", current.recipients - len(dropped)))
            conn.execute(load_sql("wave_drop_unknown"), {"mailing": mailing, "phase": phase, "phones": dropped})
            conn.execute(load_sql("wave_profile_import_finish"),
                         {"mailing": mailing, "phase": phase, "status": "completed", "updated": updated,
                          "dropped_unknown": len(dropped), "reason": None})
            _phase_done(conn, mailing, phase)
            finished = ProfileImport(mailing, phase, current.import_id, "completed", current.recipients, updated,
                                     len(dropped))
            log.info("wave %s: %s phase's profiles updated (%d); %d number(s) unknown to the platform will not be "
                     "sent", mailing, phase, updated, len(dropped))
    if finished.status == "failed":
        raise _failed(finished)
    return finished


def require_profiles_pushed(conn: Conn, mailing: str, phase: str) -> ProfileImport:
    """The phase's finished import; raises unless it completed (a send must never precede its profiles)."""
    imp = phase_import(conn, mailing, phase)
    if imp is None or imp.status != "completed":
        raise WaveError(f"wave {mailing}: the {phase} phase's profiles were not pushed "
                        f"(import {imp.status if imp else 'not started'}); nothing of that phase is sent")
    return imp
