"""The profile update before a wave: a contact import of the recipients' attributes, started once, finished once.

Custom contact attributes must match custom fields on the platform (else :class:`UnknownCustomField` before
anything is sent); numbers the platform drops as unknown are marked ``dropped`` and never sent.
"""

from __future__ import annotations

import base64
import csv
import io
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from sms_response.platform import SmsPlatformClient
from sms_response.sqlfiles import load_sql
from sms_response.waves.request import WaveError
from sms_response.waves.store import Conn, require_autocommit, set_status, wave_status

log = logging.getLogger(__name__)

SYSTEM_COLUMNS = (("phone", "phone_e164"), ("email", "email"), ("first_name", "given_name"),
                  ("last_name", "surname"), ("postal_code", "postal_code"), ("birthday", "birthdate"))


class UnknownCustomField(WaveError):
    """A contact attribute has no matching custom field on the platform; nothing was sent."""


def custom_field_name(attribute: str) -> str:
    """Listrak-style: a custom attribute maps to the custom field of the same name, spaces as underscores."""
    return attribute.strip().replace(" ", "_")


def profile_import_file(conn: Conn, mailing: str, known_custom: Sequence[str]) -> tuple[str, list[dict[str, Any]], int]:
    """Base64 CSV and column mappings of the wave's recipients (holdout excluded: they get nothing)."""
    rows = conn.execute(load_sql("wave_profile_rows"), {"mailing": mailing}).fetchall()
    custom_keys = sorted({k for r in rows for k in r[6]})
    fields = {k: custom_field_name(k) for k in custom_keys}
    unknown = sorted(f for f in fields.values() if f not in set(known_custom))
    if unknown:
        raise UnknownCustomField(
            f"contact attribute(s) {', '.join(repr(u) for u in unknown)} match no custom field on the platform "
            f"(known: {', '.join(known_custom) or 'none'}); create the field(s) or drop the attribute. "
            "Nothing was sent."
        )
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


def start_profile_update(conn: Conn, client: SmsPlatformClient, mailing: str) -> str:
    """Start (once) the contact update import of the wave's recipients; returns the import's resource id."""
    require_autocommit(conn)
    row = conn.execute(load_sql("wave_import_id"), {"mailing": mailing}).fetchone()
    if row is None:
        raise WaveError(f"no wave {mailing}")
    if row[0]:
        return str(row[0])
    fields = client.contact_fields()
    file_b64, mappings, n = profile_import_file(conn, mailing, fields["custom"])
    resource_id = client.start_contact_import(file_b64, mappings)
    with conn.transaction():
        conn.execute(load_sql("wave_set_import_id"), {"import_id": resource_id, "mailing": mailing})
    log.info("wave %s: contact update import %s started for %d recipients", mailing, resource_id, n)
    return resource_id


def finish_profile_update(conn: Conn, mailing: str, status: Mapping[str, Any]) -> int:
    """Record a finished import: phones the platform dropped as unknown are not sent. Returns their number."""
    state = status.get("status")
    if state == "Failed":
        with conn.transaction():
            set_status(conn, mailing, "failed", f"contact import failed: {status.get('message', 'no reason given')}")
        raise WaveError(f"wave {mailing}: the contact update import failed; nothing was sent")
    if state != "Completed":
        raise WaveError(f"wave {mailing}: import is {state!r}, not finished")
    dropped = [str(p) for p in status.get("dropped_unknown") or []]
    with conn.transaction():
        conn.execute(load_sql("wave_drop_unknown"), {"mailing": mailing, "phones": dropped})
        if wave_status(conn, mailing) == "planned":
            set_status(conn, mailing, "profiles_updated", dropped_unknown=len(dropped))
    log.info("wave %s: profiles updated; %d number(s) unknown to the platform will not be sent", mailing, len(dropped))
    return len(dropped)

