"""Which source column feeds which contact field: the system fields by their usual names, the rest custom.

Names match as the platform matches profile fields (the Listrak profile-update rules): case-insensitively,
with spaces and underscores alike, so a column ``Loyalty Tier`` feeds the platform's field ``loyalty_tier``.
When the platform's custom fields are known, a column that matches none of them is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sms_response.rejects import Reject

# contacts column -> the names a source may give it (compared by ``field_key``).
SYSTEM_FIELDS: dict[str, tuple[str, ...]] = {
    "phone_e164": ("phone", "phone_number", "phone_e164", "mobile", "mobile_number"),
    "contact_id": ("contact_id",),
    "email": ("email", "email_address"),
    "given_name": ("first_name", "given_name"),
    "surname": ("last_name", "surname"),
    "postal_code": ("postal_code", "postal", "zip", "zip_code"),
    "birthdate": ("birthday", "birthdate", "birth_date"),
}


def custom_field_name(attribute: str) -> str:
    """Listrak-style: a custom attribute maps to the custom field of the same name, spaces as underscores."""
    return attribute.strip().replace(" ", "_")


_SYSTEM_BY_KEY = {alias: column for column, aliases in SYSTEM_FIELDS.items() for alias in aliases}


def field_key(name: str) -> str:
    """The form two field names are compared in: the platform's spelling rule, then case folded."""
    return custom_field_name(name).casefold()


def match_custom_field(name: str, known: Sequence[str]) -> str | None:
    """The platform's own spelling of the custom field ``name`` matches, or None."""
    key = field_key(name)
    return next((k for k in known if field_key(k) == key), None)


@dataclass(frozen=True)
class FieldMap:
    """Source column -> contacts column (system) and source column -> custom field name."""

    system: dict[str, str]
    custom: dict[str, str]

    @property
    def custom_fields(self) -> list[str]:
        return sorted(self.custom.values())


def map_columns(columns: Sequence[str], known_custom: Sequence[str] | None, header_line: int,
                existing_custom: Sequence[str] = ()) -> tuple[FieldMap, list[Reject]]:
    """Map a source's columns; the rejects (reported on ``header_line``) name each column at fault.

    Without ``known_custom`` a custom column takes the spelling of a field the stored contacts already have
    (``existing_custom``), else its own name with spaces as underscores.
    """
    system: dict[str, str] = {}
    custom: dict[str, str] = {}
    rejects: list[Reject] = []
    taken: dict[str, str] = {}
    for col in columns:
        if not col.strip():
            rejects.append(Reject(header_line, "a column has no name"))
            continue
        target = _SYSTEM_BY_KEY.get(field_key(col))
        if target is None:
            name: str | None = (match_custom_field(col, existing_custom) or custom_field_name(col)
                                if known_custom is None else match_custom_field(col, known_custom))
            if name is None:
                rejects.append(Reject(header_line, f"unknown custom field {col!r}: the platform has no such field "
                                                   f"(known: {', '.join(known_custom or ()) or 'none'})"))
                continue
            target = f"custom:{name}"
        if field_key(target) in taken:
            rejects.append(Reject(header_line, f"columns {taken[field_key(target)]!r} and {col!r} both feed "
                                               f"{target.removeprefix('custom:')!r}"))
            continue
        taken[field_key(target)] = col
        if target.startswith("custom:"):
            custom[col] = target.removeprefix("custom:")
        else:
            system[col] = target
    if "phone_e164" not in system.values():
        rejects.append(Reject(header_line, f"no phone column (one of: {', '.join(SYSTEM_FIELDS['phone_e164'])})"))
    return FieldMap(system, custom), rejects
