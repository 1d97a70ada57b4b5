"""What a report shows a risk manager: a verdict banner and tables for people, not dataframe dumps.

A notebook cell ends with ``banner(...)`` or ``table(...)``; the object renders
as HTML in the report (the ``_repr_html_`` protocol Jupyter and our page both
read) and as aligned text in the executed notebook. No dtypes, no shape line,
no quotes around text, thousands separated, times as times.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from ..gates import GateReport, Verdict, gate_report

if TYPE_CHECKING:
    from ..sweep import SweepReport

_COLOURS = {Verdict.PASS: ("#e6f4ea", "#137333"), Verdict.FAIL: ("#fce8e6", "#a50e0e"),
            Verdict.NOT_ENOUGH_EVIDENCE: ("#fef7e0", "#8a5300")}
_WHY = {Verdict.PASS: "every promotion gate passed on this evidence",
        Verdict.FAIL: "a promotion gate failed on the data it asks for",
        Verdict.NOT_ENOUGH_EVIDENCE: "no gate failed, but some could not be checked on this evidence"}


@dataclass(frozen=True)
class Banner:
    """The verdict of one or more policies, their key figures, and each gate in a line."""

    sides: Sequence[tuple[str, GateReport, Mapping[str, str]]]  # (role, gates, key figures)

    def _repr_html_(self) -> str:
        blocks = []
        for role, gates, figures in self.sides:
            background, ink = _COLOURS[gates.verdict]
            cells = "".join(f"<div class='figure'><b>{html.escape(value)}</b><br>{html.escape(name)}</div>"
                            for name, value in figures.items())
            rows = "".join(f"<li>{html.escape(line)}</li>" for line in gates.lines())
            blocks.append(
                f"<div class='banner' data-verdict='{gates.verdict.value}' style='background:{background};"
                f"border-left:8px solid {ink};padding:.8em 1.2em;margin:.6em 0'>"
                f"<div style='font-size:26px;font-weight:700;color:{ink}'>{gates.verdict.value}</div>"
                f"<div><b>{html.escape(role)}</b> {html.escape(gates.identity)}: {_WHY[gates.verdict]}</div>"
                f"<div class='figures'>{cells}</div><ul class='gates'>{rows}</ul></div>")
        return "".join(blocks)

    def __repr__(self) -> str:
        lines = []
        for role, gates, figures in self.sides:
            lines.append(f"{gates.verdict.value}  {role} {gates.identity}: {_WHY[gates.verdict]}")
            lines.append("  " + ", ".join(f"{name} {value}" for name, value in figures.items()))
            lines += [f"  {line}" for line in gates.lines()]
        return "\n".join(lines)


def banner(*sides: tuple[str, GateReport, Mapping[str, str]]) -> Banner:
    """``banner(("policy", gates, {"events": "12,000", ...}), ...)``: one block per policy judged."""
    return Banner(sides)


def key_figures(metrics: Mapping[str, Any]) -> dict[str, str]:
    """The few numbers a risk manager reads first from a run's metrics."""
    figures = {"events": _cell(metrics.get("events")), "alerts": _cell(metrics.get("alerts")),
               "critical alerts": _cell(metrics.get("critical_alerts"))}
    if metrics.get("recall") is not None:
        figures["faults caught"] = f"{metrics['recall']:.1%}"
        figures["false alerts"] = _cell(metrics.get("false_alerts"))
    return figures


def sweep_banner(report: "SweepReport") -> Banner:
    """A sweep's verdict: the best variant that passes every gate, or that none does and the closest, with figures."""
    rows, row = report.rows, report.closest
    if row is None:  # no variant finished: its gates on no evidence say why nothing can be promoted
        policy = report.plan["variants"][0]["identity"] if report.plan["variants"] else "?"
        return banner((f"none of {len(rows)} variants finished its backtests", gate_report(policy, [], []),
                       {"variants": _cell(len(rows)), "failed": _cell(len(report.failed))}))
    role = (f"best of {len(rows)} variants ({row.describe()})" if row is report.best else
            f"no variant of {len(rows)} passes every gate; the closest ({row.describe()})")
    alerts, critical = row.clean_alerts
    figures = {"variants": _cell(len(rows)), "pass every gate": _cell(len(report.passing)),
               "faults caught": f"{row.recall:.1%}" if row.recall is not None else "-",
               "false alerts": _cell(row.false_alerts), "critical alerts on clean traffic": _cell(critical),
               "blocks": _cell(row.blocks)}
    if report.failed:
        figures["variants failed to run"] = _cell(len(report.failed))
    return banner((role, row.gates, figures))  # type: ignore[arg-type]  # a finished row has its gates


def sweep_table(report: "SweepReport") -> "Table":
    """The sweep's one table: each variant against the gates and the figures.

    Recall per fault kind gets a column for each kind some variant misses; the
    caption says the other kinds are caught by every variant (14 columns of 100%
    would hide the ones that matter).
    """
    frame = pl.DataFrame(report.table(), infer_schema_length=None)
    kinds = [name for name in frame.columns if name.startswith("recall ")]
    missed = [name for name in kinds if frame[name].drop_nulls().lt(1.0).any()]
    frame = frame.drop([name for name in kinds if name not in missed])
    caught = len(kinds) - len(missed)
    note = (f"; recall of the other {caught} fault kinds is 100% in every variant" if missed and caught else
            f"; every variant catches all {caught} fault kinds" if caught else "")
    return table(frame, "variants against the gates (recall on labeled history, false alerts on both stores"
                 f"{note})", percent=["recall", *missed])


@dataclass(frozen=True)
class Table:
    """A frame shown for people: a caption, named columns, numbers right-aligned and separated."""

    frame: pl.DataFrame
    caption: str = ""
    percent: tuple[str, ...] = field(default=())
    max_rows: int = 25

    def _rows(self) -> list[list[str]]:
        shown = self.frame.head(self.max_rows)
        return [[_cell(value, percent=name in self.percent) for name, value in zip(shown.columns, row)]
                for row in shown.iter_rows()]

    def _more(self) -> str:
        hidden = self.frame.height - self.max_rows
        return f"{hidden:,} more rows not shown" if hidden > 0 else ""

    def _repr_html_(self) -> str:
        if self.frame.height == 0:
            return f"<p class='empty'>{html.escape(self.caption + ': ' if self.caption else '')}none</p>"
        numeric = [dtype.is_numeric() for dtype in self.frame.dtypes]
        head = "".join(f"<th>{html.escape(_title(name))}</th>" for name in self.frame.columns)
        body = "".join(
            "<tr>" + "".join(f"<td{' class=num' if is_number else ''}>{html.escape(cell)}</td>"
                             for cell, is_number in zip(row, numeric)) + "</tr>"
            for row in self._rows())
        caption = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        more = f"<p class='more'>{self._more()}</p>" if self._more() else ""
        return f"<table class='report'>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"

    def __repr__(self) -> str:
        if self.frame.height == 0:
            return f"{self.caption + ': ' if self.caption else ''}none"
        header = [_title(name) for name in self.frame.columns]
        rows = self._rows()
        widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]
        lines = [self.caption] if self.caption else []
        lines += ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in [header, *rows]]
        return "\n".join(lines + ([self._more()] if self._more() else []))


def table(frame: pl.DataFrame, caption: str = "", *, percent: Sequence[str] = (), max_rows: int = 25) -> Table:
    """Show ``frame`` as a report table; columns named in ``percent`` are fractions shown as percentages."""
    return Table(frame, caption, tuple(percent), max_rows)


def _title(name: str) -> str:
    return name.replace("_", " ")


def _cell(value: Any, *, percent: bool = False) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if percent:
            return f"{value:.2%}"
        return f"{value:,.0f}" if value.is_integer() and abs(value) >= 1000 else f"{value:,.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    if isinstance(value, (list, tuple)):
        return ", ".join(_cell(item) for item in value)
    return str(value)
