-- The mailings a window's last (re)load touched: those of the rows it loaded and of the rows the reload
-- removed. A rerun that no longer carries a mailing must still refresh that mailing's segments and metrics.
ALTER TABLE load_log ADD COLUMN mailings text[] NOT NULL DEFAULT '{}';
