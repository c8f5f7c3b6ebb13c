"""A drift report as one self-contained HTML page: a summary table and one chart per feature.

Charts are inline SVG, with no script and nothing fetched, so the file opens
offline, in a mail attachment or a CI artifact viewer. Every string that
comes from the data (feature names, category values, file names) is escaped.
"""

from __future__ import annotations

import math
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlstage.data.drift import DriftReport, FeatureDrift

WIDTH, HEIGHT = 720, 200
PAD_LEFT, PAD_BOTTOM, PAD_TOP = 44, 40, 10
REF_COLOR, CUR_COLOR = "#4c78a8", "#f58518"
MAX_LABEL = 18

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;
max-width:960px}
h1{font-size:1.4em;margin-bottom:4px} h2{font-size:1.1em;margin:0 0 6px}
.meta{color:#555;margin-bottom:16px} table{border-collapse:collapse;margin:12px 0 24px}
th,td{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left;font-size:.92em}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.bad{color:#b00020;font-weight:600} .good{color:#1b7a1b}
.card{border:1px solid #ddd;border-radius:6px;padding:12px 16px;margin:14px 0}
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px -2px 12px}
.note{color:#555;font-size:.9em} svg text{font-size:10px;fill:#444}
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def render_html(report: DriftReport, title: str | None = None) -> str:
    noun = "Training-serving skew" if report.kind == "skew" else "Data drift"
    heading = title or f"{noun} report"
    drifted = report.drifted_features
    verdict = (
        f"<span class='bad'>{'skewed' if report.kind == 'skew' else 'drifted'}</span>"
        if report.drifted
        else "<span class='good'>no dataset-level "
        f"{'skew' if report.kind == 'skew' else 'drift'}</span>"
    )
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{_e(heading)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{_e(heading)}</h1>",
        f"<div class='meta'>reference {_e(report.reference_label)} ({report.reference_rows:,} "
        f"rows) vs current {_e(report.current_label)} ({report.current_rows:,} rows): "
        f"{len(drifted)} of {len(report.features)} features over their threshold "
        f"({report.share:.0%}; the dataset counts as drifted at {report.drift_share:.0%}): "
        f"{verdict}</div>",
        _summary(report),
    ]
    if report.skipped:
        items = "".join(f"<li>{_e(n)}: {_e(why)}</li>" for n, why in report.skipped.items())
        parts.append(f"<p class='note'>Not compared:</p><ul class='note'>{items}</ul>")
    parts.append(
        "<div class='legend'>Shares of non-missing values:"
        f"<span style='background:{REF_COLOR}'></span>reference ({_e(report.reference_label)})"
        f"<span style='background:{CUR_COLOR}'></span>current ({_e(report.current_label)})</div>"
    )
    parts += [_card(f) for f in report.features.values()]
    parts.append("</body></html>")
    return "\n".join(parts)


def _summary(report: DriftReport) -> str:
    rows = []
    ordered = sorted(report.features.values(), key=lambda f: (not f.drifted, f.feature))
    for f in ordered:
        status = "<span class='bad'>drifted</span>" if f.drifted else "<span class='good'>ok</span>"
        rule = "p <" if f.method in ("ks", "chi2") else ">"
        rows.append(
            f"<tr><td><a href='#{_anchor(f.feature)}'>{_e(f.feature)}</a></td><td>{_e(f.type)}</td>"
            f"<td>{_e(f.method)}</td><td class='num'>{_fmt(f.score)}</td>"
            f"<td class='num'>{_fmt(f.p_value)}</td><td>{rule} {_fmt(f.threshold)}</td>"
            f"<td>{status}</td></tr>"
        )
    head = (
        "<tr><th>feature</th><th>type</th><th>method</th><th>score</th><th>p-value</th>"
        "<th>drift when</th><th></th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def _anchor(name: str) -> str:
    return "f-" + "".join(ch if ch.isalnum() else f"_{ord(ch):x}" for ch in name)


def _card(f: FeatureDrift) -> str:
    status = "<span class='bad'>drifted</span>" if f.drifted else "<span class='good'>ok</span>"
    score = f"{f.method} {_fmt(f.score)}" + (
        f", p = {_fmt(f.p_value)}" if f.p_value is not None else ""
    )
    missing = (
        f"missing: {f.reference_missing:,} / {f.current_missing:,}"
        if f.reference_missing or f.current_missing
        else ""
    )
    note = f"<div class='note'>{_e(f.note)}</div>" if f.note else ""
    return (
        f"<div class='card' id='{_anchor(f.feature)}'><h2>{_e(f.feature)} "
        f"<span class='note'>({_e(f.type)})</span></h2>"
        f"<div>{_e(score)} (threshold {_fmt(f.threshold)}): {status} "
        f"<span class='note'>{_e(missing)}</span></div>{note}{_chart(f)}</div>"
    )


def _short(label: str, limit: int = MAX_LABEL) -> str:
    limit = max(limit, 2)
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _ticks(f: FeatureDrift, n: int, group: float, y: float) -> list[str]:
    """Axis labels that do not overlap: bin edges for numeric features, values for categorical."""
    out = []
    if f.type in ("int", "float"):
        step = max(1, math.ceil(n / 6))
        for i in range(step, n, step):
            edge = f.bins[i].split(" to ")[0].lstrip("≥= ")
            x = PAD_LEFT + i * group
            out.append(
                f"<line x1='{x:.1f}' y1='{y - 14}' x2='{x:.1f}' y2='{y - 10}' stroke='#999'/>"
            )
            out.append(f"<text x='{x:.1f}' y='{y}' text-anchor='middle'>{_e(edge)}</text>")
        return out
    step = max(1, math.ceil(n / 10))
    chars = int(group * step / 6)
    for i in range(0, n, step):
        x = PAD_LEFT + i * group + group / 2
        out.append(
            f"<text x='{x:.1f}' y='{y}' text-anchor='middle'>{_e(_short(f.bins[i], chars))}</text>"
        )
    return out


def _chart(f: FeatureDrift) -> str:
    n = len(f.bins)
    if n == 0:
        return ""
    top = max([*f.reference_shares, *f.current_shares, 1e-12])
    plot_w, plot_h = WIDTH - PAD_LEFT - 4, HEIGHT - PAD_BOTTOM - PAD_TOP
    group = plot_w / n
    bar = max(group * 0.4, 0.5)
    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{HEIGHT}' "
        f"viewBox='0 0 {WIDTH} {HEIGHT}' role='img' aria-label='{_e(f.feature)}'>",
        f"<line x1='{PAD_LEFT}' y1='{PAD_TOP + plot_h}' x2='{WIDTH - 4}' y2='{PAD_TOP + plot_h}' "
        "stroke='#999'/>",
        f"<text x='{PAD_LEFT - 4}' y='{PAD_TOP + 8}' text-anchor='end'>{top:.0%}</text>",
        f"<text x='{PAD_LEFT - 4}' y='{PAD_TOP + plot_h}' text-anchor='end'>0</text>",
    ]
    for i, (label, r, c) in enumerate(
        zip(f.bins, f.reference_shares, f.current_shares, strict=True)
    ):
        x = PAD_LEFT + i * group + group * 0.1
        tip = f"{label}: {r:.2%} vs {c:.2%}"
        for offset, share, color in ((0.0, r, REF_COLOR), (bar, c, CUR_COLOR)):
            h = plot_h * share / top
            out.append(
                f"<rect x='{x + offset:.1f}' y='{PAD_TOP + plot_h - h:.1f}' width='{bar:.1f}' "
                f"height='{h:.1f}' fill='{color}'><title>{_e(tip)}</title></rect>"
            )
    out += _ticks(f, n, group, PAD_TOP + plot_h + 14)
    out.append("</svg>")
    return "".join(out)
