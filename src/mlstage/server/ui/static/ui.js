// The platform UI's behaviour: small, optional enhancements of server-rendered pages.
// No inline handlers or styles (the Content-Security-Policy forbids both); user text is
// never written as HTML.
"use strict";

(function () {
  function onReady(fn) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fn);
    else fn();
  }

  // Runs table: the compare button counts the ticked runs (2 to 20).
  function compareSelection() {
    const form = document.getElementById("compare-form");
    if (!form) return;
    const button = document.getElementById("compare-button");
    const count = document.getElementById("compare-count");
    const min = Number(count.dataset.min), max = Number(count.dataset.max);
    const boxes = () => Array.from(document.querySelectorAll('input[name="runs"][form="compare-form"]'));
    function update() {
      const n = boxes().filter((b) => b.checked).length;
      button.disabled = n < min || n > max;
      count.textContent = n === 0 ? `Tick ${min} to ${max} runs` : `${n} selected` + (n > max ? ` (at most ${max})` : "");
    }
    document.addEventListener("change", (event) => {
      if (event.target.matches('input[name="runs"]')) update();
    });
    update();
  }

  // Runs table: the rows below the first screen come hidden (data-reveal), and are shown once
  // the first frame is painted, so that the browser styles and lays out one screen of cells,
  // not the whole page's, before it paints anything. noscript.css shows them without JavaScript.
  function revealLater() {
    const later = document.querySelectorAll("tbody[data-reveal][hidden]");
    if (!later.length) return;
    requestAnimationFrame(() => setTimeout(() => later.forEach((body) => { body.hidden = false; }), 0));
  }

  // Column picker: tick all or none.
  function columnPicker() {
    document.querySelectorAll("[data-check]").forEach((button) => {
      button.addEventListener("click", () => {
        const on = button.dataset.check === "all";
        button.closest("form").querySelectorAll('input[type="checkbox"]').forEach((b) => { b.checked = on; });
      });
    });
  }

  // Compare: "show only differences" toggles a class on the diff tables.
  function toggles() {
    document.querySelectorAll("[data-toggle-class]").forEach((box) => {
      const apply = () => document.querySelectorAll(box.dataset.target).forEach((el) => {
        el.classList.toggle(box.dataset.toggleClass, box.checked);
      });
      box.addEventListener("change", apply);
      apply();
    });
  }

  // Traffic split: widths from data-share (CSSOM, which the CSP allows; style attributes it does not).
  function trafficSplit() {
    document.querySelectorAll(".split [data-share]").forEach((part) => {
      const share = Number(part.dataset.share);
      if (Number.isFinite(share)) part.style.flex = `${Math.max(share, 0.5)} 1 0`;
    });
  }

  onReady(() => {
    revealLater();
    compareSelection();
    columnPicker();
    toggles();
    trafficSplit();
  });
})();

// Forms with data-api send their fields as JSON to the REST API, with the CSRF token in the
// X-CSRF-Token header (the API accepts JSON only on state changes); then go to data-next,
// or show the API's message, as text, in the element named by data-error.
(function () {
  function fields(form) {
    const body = {};
    new FormData(form).forEach((value, key) => {
      if (key !== "csrf_token") body[key] = String(value);
    });
    return body;
  }

  function send(event) {
    const form = event.target.closest("form[data-api]");
    if (!form) return;
    event.preventDefault();
    const token = form.querySelector('input[name="csrf_token"]');
    const problem = document.getElementById(form.dataset.error || "");
    const buttons = form.querySelectorAll("button");
    buttons.forEach((b) => { b.disabled = true; });
    fetch(form.dataset.api, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": token ? token.value : "" },
      body: JSON.stringify(fields(form)),
    }).then((response) => {
      if (response.ok) {
        window.location.assign(form.dataset.next || window.location.href);
        return null;
      }
      return response.json().catch(() => ({})).then((answer) => {
        const message = (answer.error && answer.error.message) || `HTTP ${response.status}`;
        if (problem) {
          problem.textContent = message;
          problem.hidden = false;
        }
        buttons.forEach((b) => { b.disabled = false; });
      });
    });
  }

  document.addEventListener("submit", send);
})();
