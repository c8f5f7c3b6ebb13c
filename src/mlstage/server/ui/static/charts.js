// Metric charts: one Plotly chart per ticked metric, one line per run, drawn from the
// metric history API (/api/v1/runs/{id}/metrics/history). Plotly is the installed
// package's own plotly.min.js; its mode bar is off and its stylesheet is charts.css.
"use strict";

(function () {
  const COLORS = ["#2456c7", "#d9822b", "#1a7f37", "#b3261e", "#7b4fc9", "#0f8b8d", "#c2417c",
                  "#5d6675", "#8a6d00", "#3b8fd9"];
  const cache = new Map();

  // Plotly reads a few HTML tags in names and titles (<b>, <a href>, <br>): user text is
  // escaped so that it shows as typed and opens nothing.
  function plain(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  // The API keeps NaN and Infinity as bare tokens, which JSON.parse refuses: they become gaps.
  function parseHistory(text) {
    return JSON.parse(text.replace(/\b(?:NaN|-?Infinity)\b/g, "null")).metrics;
  }

  function history(runId, key) {
    const id = `${runId}\u0000${key}`;
    if (!cache.has(id)) {
      const url = `/api/v1/runs/${encodeURIComponent(runId)}/metrics/history?key=${encodeURIComponent(key)}`;
      cache.set(id, fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then((response) => response.text().then((text) => {
          if (!response.ok) throw new Error(`${key}: HTTP ${response.status}`);
          return parseHistory(text);
        })));
    }
    return cache.get(id);
  }

  function draw(panel, grid, runs, key) {
    const box = document.createElement("div");
    box.className = "chart";
    box.dataset.metric = key;
    grid.appendChild(box);
    return Promise.all(runs.map((run) => history(run.id, key))).then((series) => {
      const traces = series.map((points, i) => ({
        type: "scatter",
        mode: points.length > 1 ? "lines" : "markers",
        name: plain(runs[i].name),
        x: points.map((p) => p.step),
        y: points.map((p) => p.value),
        line: { color: COLORS[i % COLORS.length], width: 2 },
        marker: { color: COLORS[i % COLORS.length], size: 7 },
      }));
      const layout = {
        title: { text: plain(key), font: { size: 14 }, x: 0.02, xanchor: "left" },
        margin: { l: 56, r: 16, t: 40, b: 40 },
        xaxis: { title: { text: "step" }, zeroline: false, gridcolor: "#eceff3" },
        yaxis: { zeroline: false, gridcolor: "#eceff3" },
        showlegend: runs.length > 1,
        legend: { orientation: "h", y: -0.2 },
        paper_bgcolor: "#ffffff",
        plot_bgcolor: "#ffffff",
        font: { family: "system-ui, sans-serif", color: "#1d2330" },
      };
      return window.Plotly.newPlot(box, traces, layout, { displayModeBar: false, responsive: true });
    });
  }

  function setUp(panel) {
    const spec = JSON.parse(panel.dataset.chart);
    const grid = panel.querySelector(".chart-grid");
    const error = panel.querySelector("[role=alert]");
    function render() {
      grid.replaceChildren();
      error.hidden = true;
      const keys = Array.from(panel.querySelectorAll("input[data-metric]"))
        .filter((box) => box.checked)
        .map((box) => box.dataset.metric);
      return Promise.all(keys.map((key) => draw(panel, grid, spec.runs, key))).catch((problem) => {
        error.textContent = `A chart could not be drawn: ${problem.message}`;
        error.hidden = false;
      });
    }
    panel.addEventListener("change", (event) => {
      if (event.target.matches("input[data-metric]")) render();
    });
    render();
  }

  function start() {
    if (!window.Plotly) return;
    document.querySelectorAll("[data-chart]").forEach(setUp);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
