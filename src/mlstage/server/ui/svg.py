"""Geometry of the UI's server-rendered charts: bar charts and the pipeline run graph.

The templates draw the shapes as inline SVG from these numbers: nothing
runs in the browser, and every label reaches the page through Jinja's
autoescape. Colours come from classes in ui.css (the Content-Security-Policy
refuses ``style`` attributes), so a shape carries only its class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SPARK_WIDTH, SPARK_HEIGHT = 140, 34
CHART_WIDTH, CHART_HEIGHT = 560, 170
CHART_PAD_LEFT, CHART_PAD_BOTTOM, CHART_PAD_TOP = 40, 34, 8
MAX_TICK_LABEL = 16
NODE_WIDTH, NODE_HEIGHT = 200, 60
GAP_X, GAP_Y, GRAPH_PAD = 64, 20, 16
MAX_NODE_LABEL = 24


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: str
    """``one``, ``reference`` or ``current``: the class that colours it."""
    title: str


@dataclass(frozen=True)
class Tick:
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    bars: list[Bar]
    ticks: list[Tick] = field(default_factory=list)
    top_label: str = ""
    axis_y: float = 0.0


def short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def sparkline(values: Sequence[float], titles: Sequence[str]) -> BarChart | None:
    """A small bar chart of ``values`` (a histogram's counts, top values' counts)."""
    if not values:
        return None
    top = max(max(values), 1e-12)
    step = SPARK_WIDTH / len(values)
    gap = 1.0 if step > 3 else 0.0
    bars = []
    for i, (value, title) in enumerate(zip(values, titles, strict=True)):
        height = max((SPARK_HEIGHT - 2) * value / top, 1.0 if value > 0 else 0.0)
        bars.append(
            Bar(
                round(i * step, 2),
                round(SPARK_HEIGHT - height, 2),
                round(max(step - gap, 0.5), 2),
                round(height, 2),
                "one",
                title,
            )
        )
    return BarChart(SPARK_WIDTH, SPARK_HEIGHT, bars, axis_y=SPARK_HEIGHT)


def histogram_sparkline(edges: Sequence[float], counts: Sequence[int]) -> BarChart | None:
    titles = []
    for i, count in enumerate(counts):
        close = "]" if i == len(counts) - 1 else ")"
        titles.append(f"[{edges[i]:.4g}, {edges[i + 1]:.4g}{close}: {count:,}")
    return sparkline([float(c) for c in counts], titles)


def grouped_bars(labels: Sequence[str], reference: Sequence[float], current: Sequence[float],
                 names: tuple[str, str] = ("reference", "current")) -> BarChart | None:  # fmt: skip
    """Reference and current shares side by side per bin or value (a drift chart)."""
    n = len(labels)
    if n == 0:
        return None
    top = max([*reference, *current, 1e-12])
    plot_w = CHART_WIDTH - CHART_PAD_LEFT - 4
    plot_h = CHART_HEIGHT - CHART_PAD_BOTTOM - CHART_PAD_TOP
    group = plot_w / n
    width = max(group * 0.4, 0.5)
    base = CHART_PAD_TOP + plot_h
    bars = []
    for i, (label, r, c) in enumerate(zip(labels, reference, current, strict=True)):
        x = CHART_PAD_LEFT + i * group + group * 0.1
        title = f"{label}: {names[0]} {r:.1%}, {names[1]} {c:.1%}"
        for offset, share, series in ((0.0, r, "reference"), (width, c, "current")):
            height = plot_h * share / top
            bars.append(
                Bar(
                    round(x + offset, 2),
                    round(base - height, 2),
                    round(width, 2),
                    round(height, 2),
                    series,
                    title,
                )
            )
    every = max(1, -(-n // 8))
    ticks = [
        Tick(round(CHART_PAD_LEFT + i * group + group / 2, 2), base + 14, short(labels[i], 16))
        for i in range(0, n, every)
    ]
    return BarChart(CHART_WIDTH, CHART_HEIGHT, bars, ticks, f"{top:.0%}", base)


# -- the pipeline run graph ---------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    name: str
    label: str
    position: int
    x: float
    y: float
    status: str
    cached: bool
    duration: str


@dataclass(frozen=True)
class Edge:
    path: str
    source: str
    target: str


@dataclass(frozen=True)
class Graph:
    width: int
    height: int
    node_width: int
    node_height: int
    nodes: list[Node]
    edges: list[Edge]


def levels(upstream: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Each step's column: 0 for steps without inputs from steps, else one past its deepest input.

    Inputs that name no known step are ignored, and a cycle (a corrupt spec)
    cannot loop: a step still unplaced after ``len(upstream)`` rounds goes last.
    """
    placed: dict[str, int] = {}
    for _ in range(len(upstream) + 1):
        changed = False
        for name, ups in upstream.items():
            known = [u for u in ups if u in upstream and u != name]
            if all(u in placed for u in known):
                level = 1 + max((placed[u] for u in known), default=-1)
                if placed.get(name) != level:
                    placed[name] = level
                    changed = True
        if not changed:
            break
    last = 1 + max(placed.values(), default=-1)
    return {name: placed.get(name, last) for name in upstream}


def run_graph(
    spec_steps: Sequence[Mapping[str, Any]],
    steps: Mapping[str, Any],
    duration: Any,
) -> Graph:
    """Lay the steps out left to right by dependency level; ``steps`` maps names to step runs.

    ``spec_steps`` is the stored definition's ``steps`` (name, upstream), in
    definition order; ``duration`` formats a step run's milliseconds.
    """
    upstream = {str(s["name"]): [str(u) for u in s.get("upstream") or []] for s in spec_steps}
    for name in steps:  # a step the spec lacks still shows, without edges
        upstream.setdefault(name, [])
    level = levels(upstream)
    rows: dict[int, int] = {}
    nodes: dict[str, Node] = {}
    for position, name in enumerate(upstream):
        column = level[name]
        row = rows.get(column, 0)
        rows[column] = row + 1
        run = steps.get(name)
        status = str(getattr(run, "status", "PENDING"))
        nodes[name] = Node(
            name=name,
            label=short(name, MAX_NODE_LABEL),
            position=getattr(run, "position", position),
            x=GRAPH_PAD + column * (NODE_WIDTH + GAP_X),
            y=GRAPH_PAD + row * (NODE_HEIGHT + GAP_Y),
            status=status,
            cached=bool(getattr(run, "cached", False)),
            duration=duration(getattr(run, "duration_ms", None)) if run is not None else "",
        )
    edges = []
    for name, ups in upstream.items():
        target = nodes[name]
        for up in dict.fromkeys(ups):
            source = nodes.get(up)
            if source is None or up == name:
                continue
            x1, y1 = source.x + NODE_WIDTH, source.y + NODE_HEIGHT / 2
            x2, y2 = target.x - 6, target.y + NODE_HEIGHT / 2
            bend = max((x2 - x1) / 2, 20)
            path = f"M{x1:g},{y1:g} C{x1 + bend:g},{y1:g} {x2 - bend:g},{y2:g} {x2:g},{y2:g}"
            edges.append(Edge(path, up, name))
    columns = 1 + max(level.values(), default=0)
    tallest = max(rows.values(), default=1)
    return Graph(
        width=int(2 * GRAPH_PAD + columns * NODE_WIDTH + (columns - 1) * GAP_X),
        height=int(2 * GRAPH_PAD + tallest * NODE_HEIGHT + (tallest - 1) * GAP_Y),
        node_width=NODE_WIDTH,
        node_height=NODE_HEIGHT,
        nodes=list(nodes.values()),
        edges=edges,
    )
