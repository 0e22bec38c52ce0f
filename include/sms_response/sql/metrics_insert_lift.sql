INSERT INTO metric_lift (mailing_name, outcome, texted, texted_hits, holdout, holdout_hits, texted_rate,
                         holdout_rate, lift, ci_low, ci_high, significant)
VALUES (%(mailing)s, %(outcome)s, %(texted)s, %(texted_hits)s, %(holdout)s, %(holdout_hits)s, %(texted_rate)s,
        %(holdout_rate)s, %(lift)s, %(ci_low)s, %(ci_high)s, %(significant)s)
