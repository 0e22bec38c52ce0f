-- The custom field names the stored contacts use (a new column takes the spelling of the one it matches).
SELECT DISTINCT jsonb_object_keys(custom) FROM contacts ORDER BY 1
