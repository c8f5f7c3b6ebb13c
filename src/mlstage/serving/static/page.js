// The prediction page: turns the form into a record, asks the service's /predict, shows the
// answer; scores an uploaded CSV file the same way. Hand-written, no build step, no libraries.
// Every text that comes from the model or the service is set with textContent, never as HTML.
'use strict';

(function () {
  const PREDICT_URL = 'predict'; // relative: the page also works behind a path prefix
  let downloadUrl = null;

  function byId(id) {
    return document.getElementById(id);
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function showError(box, message) {
    box.textContent = message || '';
    box.hidden = !message;
  }

  function setBusy(button, busyText) {
    if (busyText) {
      button.dataset.label = button.textContent;
      button.textContent = busyText;
    } else if (button.dataset.label) {
      button.textContent = button.dataset.label;
    }
    button.disabled = Boolean(busyText);
  }

  // The service's JSON error message, or the HTTP status when something else answered.
  async function errorMessage(response) {
    const type = response.headers.get('Content-Type') || '';
    if (type.includes('json')) {
      try {
        const body = await response.json();
        if (body && body.error && typeof body.error.message === 'string') {
          return body.error.message;
        }
      } catch (ignored) {
        // not JSON after all: fall through to the status line
      }
    }
    return `The service answered ${response.status} ${response.statusText}`.trim();
  }

  async function post(body, contentType, accept) {
    return fetch(PREDICT_URL, {
      method: 'POST',
      headers: { 'Content-Type': contentType, Accept: accept },
      body: body,
    });
  }

  // ---- one record from the form -------------------------------------------------------------

  function controls() {
    return Array.from(document.querySelectorAll('#predict-form [data-column]'));
  }

  function valueOf(control) {
    const empty = control.value === '';
    switch (control.dataset.widget) {
      case 'checkbox':
        return control.checked;
      case 'number':
        return empty ? null : control.valueAsNumber;
      case 'select': {
        const option = control.selectedOptions[0];
        return !option || option.hasAttribute('data-missing') ? null : control.value;
      }
      case 'datetime':
        return empty ? null : control.value;
      default:
        return empty && control.dataset.nullable === 'true' ? null : control.value;
    }
  }

  function outsideRange(control) {
    if (control.dataset.widget !== 'number' || control.value === '') return false;
    const value = control.valueAsNumber;
    const below = control.min !== '' && value < Number(control.min);
    const above = control.max !== '' && value > Number(control.max);
    return below || above;
  }

  // Values outside the training range are allowed, but the user should know.
  function flagRange(control) {
    const field = control.closest('[data-field]');
    const outside = outsideRange(control);
    if (field) {
      field.classList.toggle('outside', outside);
      const flag = field.querySelector('.flag');
      if (flag) flag.hidden = !outside;
    }
    return outside;
  }

  function formatValue(value) {
    if (typeof value === 'number' && !Number.isInteger(value)) {
      return String(Number(value.toPrecision(6)));
    }
    if (value === null) return 'missing';
    return typeof value === 'object' ? JSON.stringify(value) : String(value);
  }

  function percent(p) {
    return `${(100 * p).toFixed(1)}%`;
  }

  function probabilityBars(body) {
    const row = body.probabilities && body.probabilities[0];
    if (!row || !body.classes) return [];
    const predicted = String(body.predictions[0]);
    const ranked = body.classes
      .map((name, i) => ({ name: String(name), p: Number(row[i]) }))
      .sort((a, b) => b.p - a.p);
    return ranked.map(({ name, p }) => {
      const item = element('li', name === predicted ? 'bar top' : 'bar');
      const track = element('span', 'bar-track');
      const fill = element('span', 'bar-fill');
      fill.style.width = percent(Math.max(0, Math.min(1, p))); // CSSOM, allowed by the CSP
      track.append(fill);
      const label = element('span', 'bar-name', name);
      label.title = name; // the whole name when the column cuts it short
      item.append(label, track, element('span', 'bar-value', percent(p)));
      return item;
    });
  }

  function metaLine(body) {
    const parts = [`model ${body.model} version ${body.version}`];
    if (body.deployment) parts.push(`deployment ${body.deployment}`);
    if (body.route) parts.push(`route ${body.route}`);
    if (body.prediction_ids && body.prediction_ids[0]) {
      parts.push(`prediction id ${body.prediction_ids[0]}`);
    }
    return parts.join(' · ');
  }

  function showResult(body, outside) {
    const prediction = byId('prediction');
    prediction.replaceChildren(
      element('span', 'label', 'Predicted'),
      element('strong', 'value', formatValue(body.predictions[0])),
    );
    const warning = byId('result-warning');
    warning.textContent = outside.length
      ? `Outside the training range: ${outside.join(', ')}. The prediction may be less reliable.`
      : '';
    warning.hidden = !outside.length;
    const bars = byId('probabilities');
    bars.replaceChildren(...probabilityBars(body));
    bars.hidden = !bars.childElementCount;
    byId('result-meta').textContent = metaLine(body);
    byId('result').hidden = false;
    byId('result-empty').hidden = true;
  }

  function clearResult() {
    byId('result').hidden = true;
    byId('result-empty').hidden = false;
  }

  async function predictRecord(event) {
    event.preventDefault();
    const errorBox = byId('form-error');
    showError(errorBox, '');
    const unreadable = controls().find((c) => c.validity && c.validity.badInput);
    if (unreadable) {
      clearResult();
      showError(errorBox, `column '${unreadable.dataset.column}' must be a number`);
      unreadable.focus();
      return;
    }
    const record = {};
    for (const control of controls()) record[control.dataset.column] = valueOf(control);
    const outside = controls().filter(flagRange).map((c) => c.dataset.column);
    const button = byId('predict-button');
    setBusy(button, 'Predicting…');
    try {
      const response = await post(JSON.stringify({ records: [record] }), 'application/json',
        'application/json');
      if (!response.ok) {
        clearResult();
        showError(errorBox, await errorMessage(response));
        return;
      }
      showResult(await response.json(), outside);
    } catch (error) {
      clearResult();
      showError(errorBox, `The service could not be reached: ${error.message}`);
    } finally {
      setBusy(button, null);
    }
  }

  // ---- a CSV file ---------------------------------------------------------------------------

  // RFC 4180 rows: quoted fields may hold commas, quotes ("") and line breaks. Keeps the first
  // `limit` data rows after the header and counts the rest without building them.
  function parseCsv(text, limit) {
    const rows = [];
    let row = [];
    let field = '';
    let quoted = false;
    let records = 0;
    const keep = () => records <= limit; // record 0 is the header
    const endRecord = () => {
      if (keep()) {
        row.push(field);
        rows.push(row);
      }
      row = [];
      field = '';
      records += 1;
    };
    for (let i = 0; i < text.length; i += 1) {
      const c = text[i];
      if (quoted) {
        if (c !== '"') {
          if (keep()) field += c;
        } else if (text[i + 1] === '"') {
          if (keep()) field += '"';
          i += 1;
        } else {
          quoted = false;
        }
      } else if (c === '"') {
        quoted = true;
      } else if (c === ',') {
        if (keep()) row.push(field);
        field = '';
      } else if (c === '\n' || c === '\r') {
        if (c === '\r' && text[i + 1] === '\n') i += 1;
        endRecord();
      } else if (keep()) {
        field += c;
      }
    }
    if (field !== '' || row.length) endRecord();
    const [header = [], ...data] = rows;
    return { header, rows: data, total: Math.max(0, records - 1) };
  }

  function looksNumeric(text) {
    return /^-?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(text);
  }

  // Columns whose shown values are all numbers (or empty) are right-aligned, header included.
  function numericColumns(table) {
    return table.header.map((_, j) => table.rows.length > 0
      && table.rows.every((r) => r[j] === undefined || r[j] === '' || looksNumeric(r[j])));
  }

  // Probabilities are shown to 4 decimals so the table stays readable; the download is exact.
  function shownCell(cell, header) {
    const probability = header && header.startsWith('probability_') && looksNumeric(cell);
    return probability ? Number(cell).toFixed(4) : cell;
  }

  function tableRow(cells, tag, numeric, header) {
    const tr = element('tr');
    cells.forEach((cell, j) => {
      const text = tag === 'td' ? shownCell(cell, header[j]) : cell;
      tr.append(element(tag, numeric[j] ? 'num' : '', text));
    });
    return tr;
  }

  function scoredName(fileName) {
    return `${fileName.replace(/\.csv$/i, '') || 'records'}-scored.csv`;
  }

  function showTable(table, blob, fileName) {
    const box = byId('csv-result');
    const shown = table.rows.length;
    const numeric = numericColumns(table);
    const dom = byId('csv-table');
    dom.tHead.replaceChildren(tableRow(table.header, 'th', numeric, table.header));
    dom.tBodies[0].replaceChildren(
      ...table.rows.map((r) => tableRow(r, 'td', numeric, table.header)),
    );
    const rows = table.total === 1 ? '1 row' : `${table.total} rows`;
    byId('csv-summary').textContent = shown < table.total
      ? `${rows} scored; the first ${shown} are shown.`
      : `${rows} scored.`;
    if (downloadUrl) URL.revokeObjectURL(downloadUrl);
    downloadUrl = URL.createObjectURL(blob);
    const link = byId('csv-download');
    link.href = downloadUrl;
    link.download = scoredName(fileName);
    box.hidden = false;
  }

  async function scoreFile(event) {
    event.preventDefault();
    const errorBox = byId('csv-error');
    showError(errorBox, '');
    const file = byId('csv-file').files[0];
    if (!file) {
      showError(errorBox, 'Choose a CSV file first.');
      return;
    }
    const button = byId('csv-button');
    setBusy(button, 'Scoring…');
    try {
      const response = await post(file, 'text/csv', 'text/csv');
      if (!response.ok) {
        byId('csv-result').hidden = true;
        showError(errorBox, await errorMessage(response));
        return;
      }
      const blob = await response.blob();
      const limit = Number(byId('csv-result').dataset.previewRows) || 100;
      showTable(parseCsv(await blob.text(), limit), blob, file.name);
    } catch (error) {
      byId('csv-result').hidden = true;
      showError(errorBox, `The service could not be reached: ${error.message}`);
    } finally {
      setBusy(button, null);
    }
  }

  function start() {
    const form = byId('predict-form');
    if (form) {
      form.addEventListener('submit', predictRecord);
      for (const control of controls()) {
        control.addEventListener('input', () => flagRange(control));
      }
    }
    byId('csv-form').addEventListener('submit', scoreFile);
    document.body.dataset.ready = 'true'; // tests wait for this
  }

  start();
})();
