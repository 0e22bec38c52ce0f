-- The segment source: the chosen segment of the source mailing (its current complete segment run), optionally
-- only members with a published response that matches every filter given (its type is one of types; an action
-- filter means a tap of one of those actions; a link filter a click of that link, by 0-based position through
-- the wave's short links, or by target URL), and only recipients of one A/B variant of the source wave.
-- Parameters: source, segment, variant, filtered, types, actions, link_index, link_url.
INSERT INTO wave_candidates (phone_e164)
SELECT m.phone_e164
FROM segment_members m
JOIN segment_current cur ON cur.segment_run_id = m.segment_run_id
WHERE m.mailing_name = %(source)s
  AND m.segment = %(segment)s
  AND (%(variant)s = '' OR EXISTS (
      SELECT 1 FROM wave_recipients v
      WHERE v.mailing_name = %(source)s AND v.phone_e164 = m.phone_e164 AND v.variant = %(variant)s))
  AND (NOT %(filtered)s OR EXISTS (
      SELECT 1
      FROM sms_interactions i
      LEFT JOIN short_links l ON l.token = i.link_token
      WHERE i.mailing_name = %(source)s
        AND i.phone_e164 = m.phone_e164
        AND i.interaction_type IN ('click', 'reply', 'action', 'conversion')
        AND i.suspected_bot_click IS NOT TRUE
        AND i.load_id IN (SELECT load_id FROM load_log WHERE status = 'published')
        AND (cardinality(%(types)s::text[]) = 0 OR i.interaction_type = ANY (%(types)s::text[]))
        AND (cardinality(%(actions)s::text[]) = 0
             OR (i.interaction_type = 'action' AND i.action_name = ANY (%(actions)s::text[])))
        AND (%(link_index)s::integer IS NULL OR (i.interaction_type = 'click' AND l.link_index = %(link_index)s))
        AND (%(link_url)s::text IS NULL
             OR (i.interaction_type = 'click' AND coalesce(l.target_url, i.url) = %(link_url)s))))
ON CONFLICT DO NOTHING
