"""Source rows to contacts: the phone to E.164, the birthday to a date, the custom fields to a JSON object.

A row is rejected, with its line and reason, for an unparseable phone, a phone an earlier row already gave
(after normalisation: ``(201) 555-0100`` and ``+12015550100`` are the same contact) or a bad birthday.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from sms_response.contacts.fields import FieldMap
from sms_response.phones import PhoneNormaliser
from sms_response.rejects import Reject

TEXT_FIELDS = ("contact_id", "email", "given_name", "surname", "postal_code")
OLDEST_BIRTHDATE = date(1900, 1, 1)


@dataclass(frozen=True)
class Contact:
    phone_e164: str
    contact_id: str | None = None
    email: str | None = None
    given_name: str | None = None
    surname: str | None = None
    postal_code: str | None = None
    birthdate: date | None = None
    custom: Mapping[str, object] | None = None

    def copy_row(self) -> tuple[object, ...]:
        """The row as COPY writes it into the staging table."""
        return (self.phone_e164, self.contact_id, self.email, self.given_name, self.surname, self.postal_code,
                self.birthdate, json.dumps(dict(self.custom or {}), sort_keys=True, default=str))


@dataclass(frozen=True)
class ParsedContacts:
    contacts: list[Contact]
    rejects: list[Reject]


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _custom_value(value: object) -> object:
    """JSON scalars stay as they are (a query may give numbers or booleans); other values become text."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, date):
        return value.isoformat()
    return _text(value)


def parse_birthdate(value: object, today: date) -> date:
    """A birthday as ``YYYY-MM-DD`` (or a date from a query); ValueError says what is wrong."""
    if isinstance(value, datetime):
        raise ValueError(f"birthday {value.isoformat()} is a timestamp, not a date")
    if isinstance(value, date):
        day = value
    else:
        try:
            day = date.fromisoformat(str(value).strip())
        except ValueError:
            raise ValueError(f"birthday {str(value)!r} is not a date (expected YYYY-MM-DD)") from None
    if not OLDEST_BIRTHDATE <= day <= today:
        raise ValueError(f"birthday {day.isoformat()} is not between {OLDEST_BIRTHDATE.isoformat()} and today")
    return day


def parse_contacts(rows: Iterable[tuple[int, Mapping[str, object]]], fields: FieldMap,
                   normaliser: PhoneNormaliser, *, today: date | None = None) -> ParsedContacts:
    """Every row as a contact or a reject; ``rows`` are (line number, column -> value)."""
    today = today or date.today()
    phone_col = next(col for col, target in fields.system.items() if target == "phone_e164")
    contacts: list[Contact] = []
    rejects: list[Reject] = []
    first_line: dict[str, int] = {}
    for line, values in rows:
        raw_phone = values.get(phone_col)
        phone = normaliser.normalise(str(raw_phone) if isinstance(raw_phone, int) else raw_phone)
        if phone.e164 is None:
            rejects.append(Reject(line, f"{phone.reason or 'phone not parseable'}: {raw_phone!r}"))
            continue
        if phone.e164 in first_line:
            rejects.append(Reject(line, f"duplicate phone {phone.e164}: line {first_line[phone.e164]} has it too"))
            continue
        first_line[phone.e164] = line
        system: dict[str, object] = {}
        try:
            for col, target in fields.system.items():
                if target == "birthdate":
                    system[target] = None if _text(values.get(col)) is None else parse_birthdate(values[col], today)
                elif target != "phone_e164":
                    system[target] = _text(values.get(col))
        except ValueError as exc:
            rejects.append(Reject(line, str(exc)))
            continue
        custom = {name: v for col, name in fields.custom.items() if (v := _custom_value(values.get(col))) is not None}
        contacts.append(Contact(phone.e164, custom=custom, **system))  # type: ignore[arg-type]
    return ParsedContacts(contacts, rejects)
