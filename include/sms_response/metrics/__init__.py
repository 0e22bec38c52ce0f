"""Campaign metrics: refreshed per mailing from published windows, read from metric tables only.

* ``pricing``: message credits per part and encoding;
* ``lift``: Wilson and Newcombe intervals for the lift of a texted group over its holdout;
* ``refresh``: recompute the metric tables of some mailings (or all) and their campaigns;
* ``read``: the reports (campaign, mailing, links, actions, inbox, variants, timing) as DataFrames.

Definitions of every figure: docs/metrics.md.
"""
