-- Suspected bot clicks (link previews, security scanners): kept in sms_interactions, visible, but not counted
-- as responses by segments and metrics. NULL = the platform does not tell (counted as a human click).
ALTER TABLE sms_interactions ADD COLUMN suspected_bot_click boolean;
