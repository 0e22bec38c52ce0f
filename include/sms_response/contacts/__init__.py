"""Contacts (the audience's profile attributes), loaded and kept in sync from a CSV file or the database.

``fields`` maps columns to system and custom fields, ``parse`` turns rows into contacts or rejects, ``sources``
reads a CSV file, table, view or saved query (read-only), ``store`` upserts, ``sync`` does a whole load all or
nothing, ``cli`` is ``sms-rt contacts load``. See docs/audiences.md.
"""

from sms_response.contacts.sources import SourceError, csv_source, query_source, relation_source
from sms_response.contacts.sync import ContactsLoad, load_contacts

__all__ = ["ContactsLoad", "SourceError", "csv_source", "load_contacts", "query_source", "relation_source"]
