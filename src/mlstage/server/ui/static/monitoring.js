// Monitoring charts: every [data-chart-spec] element becomes a Plotly time-series chart.
// The server folds each series in SQL and writes it into the attribute (escaped): times in
// ms (a date axis, UTC), values, one status letter a point (o, w, a), and, where several
// checks fell into one point, their count, min and max. Plotly is the installed package's
// plotly.min.js; its mode bar is off and its stylesheet is charts.css.
"use strict";

(function () {
  const COLORS = ["#2456c7", "#d9822b", "#1a7f37", "#7b4fc9", "#0f8b8d", "#c2417c", "#5d6675"];
  const STATUS = { w: "#d9822b", a: "#b3261e" };
  const THRESHOLD = "#b3261e";

  // Plotly reads a few HTML tags in names and titles (<b>, <a href>, <br>): user text is
  // escaped so that it shows as typed and opens nothing.
  function plain(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  function hoverText(t, suffix) {
    return t.x.map((_, j) => {
      const status = { w: "warn", a: "alert" }[t.s[j]] || "ok";
      if (!t.n || t.n[j] <= 1) return status;
      return `${status} · mean of ${t.n[j]} checks<br>min ${t.lo[j]}${suffix} · max ${t.hi[j]}${suffix}`;
    });
  }

  function traceOf(t, i, spec) {
    const color = COLORS[i % COLORS.length];
    const suffix = spec.percent || t.axis === "y2" ? "%" : "";
    const common = {
      name: plain(t.name),
      x: t.x,
      y: t.y,
      yaxis: t.axis === "y2" ? "y2" : "y",
      text: hoverText(t, suffix),
      hovertemplate: `%{x|%Y-%m-%d %H:%M}<br><b>%{y}${suffix}</b> %{text}<extra>${plain(t.name)}</extra>`,
    };
    if (t.kind === "bar") {
      const fill = t.axis === "y2" ? "rgba(36, 86, 199, 0.16)" : color;
      return Object.assign(common, { type: "bar", textposition: "none", marker: { color: fill } });
    }
    const flagged = Array.from(t.s).map((c) => STATUS[c] || color);
    const sizes = Array.from(t.s).map((c) => (STATUS[c] ? 7 : t.x.length > 80 ? 3 : 5));
    return Object.assign(common, {
      type: "scatter",
      mode: t.x.length > 1 ? "lines+markers" : "markers",
      connectgaps: false,
      line: { color, width: 1.8 },
      marker: { color: flagged, size: sizes },
    });
  }

  function draw(box) {
    const spec = JSON.parse(box.dataset.chartSpec);
    const traces = spec.traces.filter((t) => t.x.length > 0);
    if (traces.length === 0) {
      const empty = document.createElement("p");
      empty.className = "hint pad";
      empty.textContent = `${spec.title}: no results in this range.`;
      box.replaceChildren(empty);
      box.dataset.empty = "true";
      return Promise.resolve();
    }
    const data = traces.map((t, i) => traceOf(t, i, spec));
    const layout = {
      title: { text: plain(spec.title), font: { size: 13 }, x: 0.02, xanchor: "left" },
      margin: { l: 52, r: spec.y2Title ? 52 : 16, t: 36, b: 36 },
      xaxis: { type: "date", zeroline: false, gridcolor: "#eceff3" },
      yaxis: {
        title: { text: plain(spec.yTitle || ""), font: { size: 11 } },
        zeroline: false,
        gridcolor: "#eceff3",
        rangemode: "tozero",
        ticksuffix: spec.percent ? "%" : "",
      },
      showlegend: data.length > 1,
      legend: { orientation: "h", y: -0.18 },
      bargap: 0.2,
      paper_bgcolor: "#ffffff",
      plot_bgcolor: "#ffffff",
      font: { family: "system-ui, sans-serif", color: "#1d2330", size: 11 },
    };
    if (spec.xr) {  // every chart of the page on the range's time axis
      const pad = Math.max((spec.xr[1] - spec.xr[0]) * 0.02, 60000);
      layout.xaxis.range = [spec.xr[0] - pad, spec.xr[1] + pad];
    }
    if (spec.y2Title) {
      layout.yaxis2 = {
        title: { text: plain(spec.y2Title), font: { size: 11 } },
        overlaying: "y",
        side: "right",
        range: [0, 100],
        tickmode: "linear",
        tick0: 0,
        dtick: 25,
        ticksuffix: "%",
        showgrid: false,
        zeroline: false,
      };
    }
    if (typeof spec.threshold === "number") {
      const label = `${plain(spec.thresholdLabel || "threshold")} ${spec.threshold}`;
      layout.shapes = [{
        type: "line", xref: "paper", x0: 0, x1: 1, y0: spec.threshold, y1: spec.threshold,
        line: { color: THRESHOLD, width: 1.5, dash: "dash" },
      }];
      layout.annotations = [{
        xref: "paper", x: 1, xanchor: "right", y: spec.threshold, yanchor: "bottom",
        text: label, showarrow: false, font: { size: 10, color: THRESHOLD },
      }];
      // an invisible point at the threshold keeps the line inside the autoranged axis
      data.push({
        type: "scatter", mode: "markers", x: [traces[0].x[0]], y: [spec.threshold],
        marker: { opacity: 0 }, hoverinfo: "skip", showlegend: false,
      });
    }
    box.replaceChildren();
    return window.Plotly.newPlot(box, data, layout, { displayModeBar: false, responsive: true });
  }

  function start() {
    if (!window.Plotly) return;
    document.querySelectorAll("[data-chart-spec]").forEach((box) => {
      try {
        Promise.resolve(draw(box)).catch((problem) => {
          box.textContent = `This chart could not be drawn: ${problem.message}`;
        });
      } catch (problem) {
        box.textContent = `This chart could not be drawn: ${problem.message}`;
      }
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
