"""Data-quality gate: Great Expectations (GX Core 1.x) suites run on one window's rows, in PostgreSQL.

Expectations run as SQL pushdown against query assets selecting the window's rows (``load_id``),
not on a DataFrame: measured on 1M rows that is 2.4 s against 4.7 s + 7.4 s of reading rows
into pandas (DESIGN.md; ``bench/bench_validation.py`` re-measures it here). Each expectation
carries a severity in its ``meta``: a failed *critical* expectation stops the window, a
*warning* is recorded and logged only.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

from sms_response.errors import SmsResponseError
from sms_response.events import DELIVERY_STATUSES, INTERACTION_TYPES
from sms_response.phones import mask
from sms_response.settings import QualityConfig as QualityConfig
from sms_response.window import Window

log = logging.getLogger(__name__)

CRITICAL = "critical"
WARNING = "warning"
E164_REGEX = r"^\+[1-9][0-9]{6,14}$"
# The campaign tool's unique mailing names: <CAMPAIGN>_<ProcessBox…>_<YYYYMMDDHHMMSS>.
MAILING_NAME_REGEX = r"^[A-Za-z0-9]+_[A-Za-z0-9_]+_[0-9]{14}$"


class ValidationFailed(SmsResponseError):
    """A critical expectation failed for a window; the window is not published."""

    def __init__(self, message: str, report: ValidationReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class ExpectationOutcome:
    suite: str
    expectation: str
    column: str | None
    severity: str
    success: bool
    unexpected_count: int | None
    element_count: int | None
    samples: list[str] = field(default_factory=list)

    def describe(self) -> str:
        where = f"{self.suite}.{self.column}" if self.column else self.suite
        counts = (
            f"{self.unexpected_count} unexpected of {self.element_count}"
            if self.unexpected_count is not None
            else "failed"
        )
        sample = f"; e.g. {', '.join(self.samples)}" if self.samples else ""
        return f"[{self.severity}] {self.expectation} on {where}: {counts}{sample}"


@dataclass(frozen=True)
class ValidationReport:
    load_id: str
    outcomes: list[ExpectationOutcome]
    seconds: float
    data_docs: str | None

    @property
    def critical_failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity == CRITICAL]

    @property
    def warnings(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity == WARNING]

    @property
    def success(self) -> bool:
        return not self.critical_failures

    def as_json(self) -> list[dict[str, Any]]:
        return [o.__dict__ for o in self.outcomes]


def _window_query(table: str, columns: Sequence[str], load_id: str) -> str:
    # GX takes the query as text; the literal is composed by psycopg, never by string formatting.
    return (
        sql.SQL("SELECT {} FROM {} WHERE load_id = {}")
        .format(sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier(table), sql.Literal(load_id))
        .as_string()
    )


def _suites(window: Window, cfg: QualityConfig) -> dict[str, tuple[str, list[Any], list[str]]]:
    """Suite name → (query template, expectations). Imported lazily: GX is heavy."""
    import great_expectations.expectations as gxe

    def c(exp: Any) -> Any:
        exp.meta = {"severity": CRITICAL}
        return exp

    def w(exp: Any) -> Any:
        exp.meta = {"severity": WARNING}
        return exp

    lo = (window.start - cfg.lateness_allowance).isoformat()
    hi = window.end.isoformat()
    sent_cols = ["event_id", "mailing_name", "phone_e164", "sent_at", "delivery_status", "status_code"]
    int_cols = ["event_id", "mailing_name", "phone_e164", "interacted_at", "interaction_type"]

    def event_suite(required: list[str], time_column: str, enum_column: str, enum_values: frozenset[str]) -> list[Any]:
        # The two event tables get the same checks over their own time and enum columns.
        return [
            *(c(gxe.ExpectColumnValuesToNotBeNull(column=col)) for col in required),
            c(gxe.ExpectColumnValuesToBeUnique(column="event_id")),
            c(gxe.ExpectColumnValuesToBeInSet(column=enum_column, value_set=sorted(enum_values))),
            c(gxe.ExpectColumnValuesToMatchRegex(column="phone_e164", regex=E164_REGEX)),
            w(gxe.ExpectColumnValuesToBeBetween(column=time_column, min_value=lo, max_value=hi)),
            w(gxe.ExpectColumnValuesToMatchRegex(column="mailing_name", regex=MAILING_NAME_REGEX)),
        ]

    sent = event_suite(sent_cols[:5], "sent_at", "delivery_status", DELIVERY_STATUSES)
    interactions = event_suite(int_cols, "interacted_at", "interaction_type", INTERACTION_TYPES)

    window_level = [
        c(gxe.ExpectColumnValuesToBeBetween(column="reject_rate", min_value=0, max_value=cfg.max_reject_rate)),
        # A conflicting re-delivery keeps both versions (event_conflicts): a warning, critical past the threshold.
        w(gxe.ExpectColumnValuesToBeBetween(column="conflicts", min_value=0, max_value=0)),
        c(gxe.ExpectColumnValuesToBeBetween(column="conflict_rate", min_value=0, max_value=cfg.max_conflict_rate)),
        w(gxe.ExpectColumnValuesToBeBetween(
            column="interactions_per_send", min_value=0, max_value=cfg.max_interactions_per_send)),
    ]
    return {
        "sms_sent": ("sms_sent", sent, sent_cols),
        "sms_interactions": ("sms_interactions", interactions, int_cols),
        "window": ("", window_level, []),
    }


WINDOW_QUERY = """
SELECT coalesce(l.rejected::float / nullif(l.downloaded - l.skipped, 0), 0) AS reject_rate,
       coalesce(l.conflicts::float / nullif(l.downloaded - l.skipped, 0), 0) AS conflict_rate,
       l.conflicts,
       (SELECT count(*) FROM {interactions} WHERE load_id = {load_id})::float
         / greatest((SELECT count(*) FROM {sent} WHERE load_id = {load_id}), 1) AS interactions_per_send
FROM {load_log} l WHERE l.load_id = {load_id}
"""


def _outcome(suite: str, res: Any) -> ExpectationOutcome:
    cfg = res.expectation_config
    kwargs = dict(cfg.kwargs)
    result = res.result or {}
    column = kwargs.get("column")
    raw_samples = result.get("partial_unexpected_list") or []
    samples = [mask(str(s)) if column == "phone_e164" else str(s)[:60] for s in raw_samples[:3]]
    if res.exception_info and res.exception_info.get("raised_exception"):
        samples = [str(res.exception_info.get("exception_message"))[:200]]
    return ExpectationOutcome(
        suite=suite,
        expectation=str(cfg.type),
        column=column,
        severity=str((cfg.meta or {}).get("severity", CRITICAL)),
        success=bool(res.success),
        unexpected_count=result.get("unexpected_count"),
        element_count=result.get("element_count"),
        samples=samples,
    )


def gx_url(database_url: str, schema: str) -> str:
    """A SQLAlchemy URL GX accepts: it insists on a host, so a Unix socket goes in ``?host=``."""
    from psycopg.conninfo import conninfo_to_dict
    from sqlalchemy.engine import URL

    parts = conninfo_to_dict(database_url)
    host = str(parts.get("host") or "localhost")
    query = {"options": f"-csearch_path={schema}"}
    if host.startswith("/"):
        query["host"] = host
        host = "localhost"
    return URL.create(
        "postgresql+psycopg",
        username=str(parts["user"]) if parts.get("user") else None,
        password=str(parts["password"]) if parts.get("password") else None,
        host=host,
        port=int(str(parts["port"])) if parts.get("port") else None,
        database=str(parts.get("dbname") or "postgres"),
        query=query,
    ).render_as_string(hide_password=False).replace("$", r"\$")


def validate_window(
    database_url: str, schema: str, window: Window, cfg: QualityConfig,
    relations: dict[str, str] | None = None,
    suites: Sequence[str] | None = None,
) -> ValidationReport:
    """Run the suites on the window's rows (``load_id = window.id``); return every outcome (raises nothing).

    ``relations`` validates another relation in place of a table (e.g. ``{"sms_sent": "staging_sent"}``),
    such as rows staged before loading.
    """
    load_id = window.id
    rel = {"sms_sent": "sms_sent", "sms_interactions": "sms_interactions", **(relations or {})}
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction

    for name in ("great_expectations", "great_expectations.core", "great_expectations.data_context"):
        logging.getLogger(name).setLevel(logging.WARNING)
    t0 = time.monotonic()
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = {"globally": False}
    site = "sms_rt_docs"
    if cfg.data_docs_dir is not None:
        cfg.data_docs_dir.mkdir(parents=True, exist_ok=True)
        ctx.add_data_docs_site(site, {
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(cfg.data_docs_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        })
    ds = ctx.data_sources.add_postgres(name="sms_rt", connection_string=gx_url(database_url, schema))
    definitions = []
    for suite_name, (table, expectations, cols) in _suites(window, cfg).items():
        if suites is not None and suite_name not in suites:
            continue
        if table:
            query = _window_query(rel[table], cols, load_id)
        else:
            ident = {k: sql.Identifier(rel.get(k, k)) for k in ("sms_sent", "sms_interactions", "load_log")}
            query = sql.SQL(WINDOW_QUERY).format(
                sent=ident["sms_sent"], interactions=ident["sms_interactions"], load_log=ident["load_log"],
                load_id=sql.Literal(load_id),
            ).as_string()
        asset = ds.add_query_asset(name=f"{suite_name}_{load_id}", query=query)
        batch = asset.add_batch_definition_whole_table(f"{suite_name}_batch")
        suite = ctx.suites.add(gx.ExpectationSuite(name=f"{suite_name}"))
        for e in expectations:
            suite.add_expectation(e)
        definitions.append(ctx.validation_definitions.add(
            gx.ValidationDefinition(name=f"{suite_name}__{load_id}", data=batch, suite=suite)))
    actions = [UpdateDataDocsAction(name="docs", site_names=[site])] if cfg.data_docs_dir is not None else []
    checkpoint = ctx.checkpoints.add(gx.Checkpoint(
        name=f"window_{load_id}", validation_definitions=definitions, actions=actions,
        result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5},
    ))
    result = checkpoint.run()
    outcomes: list[ExpectationOutcome] = []
    for vr in result.run_results.values():
        suite_name = str(vr.suite_name)
        outcomes.extend(_outcome(suite_name, r) for r in vr.results)
    docs = None
    if cfg.data_docs_dir is not None:
        docs = str(cfg.data_docs_dir / "index.html")
    return ValidationReport(load_id, outcomes, round(time.monotonic() - t0, 3), docs)


def summary(report: ValidationReport) -> str:
    lines = [f"window {report.load_id}: {len(report.outcomes)} expectations, "
             f"{len(report.critical_failures)} critical failures, {len(report.warnings)} warnings "
             f"({report.seconds:.2f} s)"]
    lines += ["  " + o.describe() for o in report.critical_failures + report.warnings]
    if report.data_docs:
        lines.append(f"  Data Docs: {report.data_docs}")
    return "\n".join(lines)
