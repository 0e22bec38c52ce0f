"""Where a wave's candidates come from: a segment (with response filters), a view, a saved query or a list file.

A view, query or list is read first, in a read-only transaction of its own (a query that writes is refused by
PostgreSQL), then synced into ``contacts`` inside the planning transaction with the contact loader's rules:
every row parsed, any bad row (unparseable or duplicate phone, bad birthday, unknown custom field) rejected with
its line and reason, and nothing planned. Its phones become the candidates; the segment source selects them in
SQL. Consent, exclusions and the frequency cap are applied afterwards, to every source alike
(:mod:`sms_response.waves.audience`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sms_response.contacts.sources import SourceRows, csv_source, query_source, relation_source
from sms_response.contacts.sync import load_contacts
from sms_response.csvfile import CsvFileError
from sms_response.phones import PhoneNormaliser
from sms_response.sqlfiles import load_sql
from sms_response.waves.store import Conn
from sms_response.waves.targeting import AudienceError, AudienceSpec


@dataclass(frozen=True)
class AudienceFolders:
    """Where saved queries (``<name>.sql``) and list files live (settings: SMS_RT_QUERY_DIR, SMS_RT_AUDIENCE_DIR)."""

    queries: Path
    lists: Path


def _inside(folder: Path, name: str, what: str) -> Path:
    path = (folder / name).resolve()
    if path.parent != folder.resolve():
        raise AudienceError(f"{what} {name!r} must name a file directly in {folder}")
    if not path.is_file():
        raise AudienceError(f"no {what} {name!r}: {path} does not exist; nothing was planned or sent")
    return path


def read_source(conn: Conn, audience: AudienceSpec, folders: AudienceFolders) -> SourceRows | None:
    """The rows of a view, query or list source (None for the segment source). Call outside a transaction."""
    if audience.source == "view":
        return relation_source(conn, audience.relation, "view")
    if audience.source == "query":
        path = _inside(folders.queries, f"{audience.query}.sql", "saved query")
        return query_source(conn, path, audience.query_params)
    if audience.source == "list":
        path = _inside(folders.lists, audience.list_file, "list file")
        try:
            return csv_source(path)
        except CsvFileError as exc:
            raise AudienceError(str(exc)) from exc
    return None


def _link(audience: AudienceSpec) -> tuple[int | None, str | None]:
    if not audience.link:
        return None, None
    if audience.link.isdigit():
        return int(audience.link) - 1, None  # a position, 1 for the first link; stored 0-based
    return None, audience.link


def fill_candidates(conn: Conn, audience: AudienceSpec, source_mailing: str, segment: str, rows: SourceRows | None,
                    *, known_custom: Sequence[str] | None = None,
                    normaliser: PhoneNormaliser | None = None) -> int:
    """Create and fill ``wave_candidates`` (inside the planning transaction); returns how many candidates."""
    conn.execute(load_sql("wave_candidates_create"))
    if rows is None:
        link_index, link_url = _link(audience)
        cur = conn.execute(load_sql("wave_candidates_segment"), {
            "source": source_mailing, "segment": segment, "variant": audience.variant,
            "filtered": audience.responder_filtered, "types": list(audience.response_types),
            "actions": list(audience.action_names), "link_index": link_index, "link_url": link_url,
        })
        return cur.rowcount
    loaded = load_contacts(conn, rows, known_custom=known_custom, normaliser=normaliser)
    cur = conn.execute(load_sql("wave_candidates_phones"), {"phones": list(loaded.phones)})
    return cur.rowcount
