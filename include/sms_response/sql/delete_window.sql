-- Overwrite semantics: a (re)load of a window first removes everything that window loaded before.
DELETE FROM sms_sent WHERE load_id = %(load_id)s;
DELETE FROM sms_interactions WHERE load_id = %(load_id)s;
DELETE FROM event_index WHERE load_id = %(load_id)s;
DELETE FROM event_rejects WHERE load_id = %(load_id)s;
DELETE FROM event_conflicts WHERE load_id = %(load_id)s;
