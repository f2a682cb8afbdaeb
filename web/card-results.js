// Card 5, Results: the test (or validation) scores, the per-class table (sortable), the
// confusion matrix, the misclassified examples, "Try it" (a text typed, or images dropped or
// picked) and the downloads (model, merged model, checkpoint).

import { barList } from './charts.js';
import { $, h, int, pct, debounce, dropZone } from './ui.js';
import { app, pub, confusion } from './state.js';
import { send } from './worker-client.js';
import { thumb } from './card-data.js';

// ---------------------------------------------------------------- 5 Results

export function showResults() {
  const report = pub.test || pub.valid;
  const which = pub.test ? 'Test' : 'Validation';
  $('results').hidden = false;
  $('report-section').hidden = !report;
  if (!report) return;
  const multi = 'micro_f1' in report;
  const classification = 'accuracy' in report || multi;
  if (multi) {
    $('accuracy').textContent = `${which} micro F1 ${report.micro_f1.toFixed(3)} · macro F1 ${report.macro_f1.toFixed(3)}`;
    const other = pub.test && pub.valid ? ` · validation micro F1 ${pub.valid.micro_f1.toFixed(3)}` : '';
    $('results-detail').textContent = `${int(report.count)} examples · ${report.labels.length} tags · subset accuracy ${pct(report.subset_accuracy)} · ` +
      `Hamming loss ${report.hamming_loss.toFixed(4)} · threshold ${report.threshold.toFixed(2)} · loss ${report.loss.toFixed(4)}${other}`;
    app.labels = report.labels;
    renderPerClass(report.per_tag);
  } else if (classification) {
    $('accuracy').textContent = `${which} accuracy ${pct(report.accuracy)} · macro F1 ${report.macro_f1.toFixed(3)}`;
    const other = pub.test && pub.valid ? ` · validation accuracy ${pct(pub.valid.accuracy)}` : '';
    $('results-detail').textContent = `${int(report.count)} examples · loss ${report.loss.toFixed(4)} · macro precision ` +
      `${report.macro_precision.toFixed(3)} · macro recall ${report.macro_recall.toFixed(3)}${other}`;
    app.labels = report.labels;
    renderPerClass(report.per_class);
    confusion.set(report.labels, report.confusion);
  } else {
    $('accuracy').textContent = `${which} RMSE ${report.rmse.toFixed(4)} · MAE ${report.mae.toFixed(4)} · R² ${report.r2.toFixed(3)}`;
    $('results-detail').textContent = `${int(report.count)} examples`;
  }
  for (const el of $('report-section').querySelectorAll('h3, .table-wrap, .confusion-wrap, .small')) {
    if (!el.closest('#misclassified')) el.hidden = !classification;
  }
  // A multi-label run has no confusion matrix (each tag is its own yes/no).
  for (const el of $('report-section').querySelectorAll('.confusion-part')) if (multi) el.hidden = true;
  $('per-class-heading').textContent = multi ? 'Per tag' : 'Per class';
  $('misclassified-heading').textContent = multi ? 'Examples with a wrong tag set' : 'Misclassified examples';
}

const COLUMNS = [['label', 'Label'], ['precision', 'Precision'], ['recall', 'Recall'], ['f1', 'F1'], ['support', 'Support']];
function renderPerClass(rows) {
  const { key, dir } = app.sort;
  const sorted = key ? [...rows].sort((a, b) => (a[key] < b[key] ? -dir : a[key] > b[key] ? dir : 0)) : rows;
  const head = h('tr', {}, COLUMNS.map(([k, title]) => h('th', {
    scope: 'col', class: k === 'label' ? null : 'num', 'aria-sort': k === key ? (dir > 0 ? 'ascending' : 'descending') : null,
  }, h('button', {
    type: 'button', class: 'sort', onclick: () => {
      app.sort = { key: k, dir: k === key ? -dir : k === 'label' ? 1 : -1 };
      renderPerClass(rows);
      $('per-class').querySelector(`th:nth-child(${COLUMNS.findIndex((c) => c[0] === k) + 1}) button`).focus();
    },
  }, title))));
  const body = sorted.map((r) => h('tr', {}, h('th', { scope: 'row' }, r.label),
    ...['precision', 'recall', 'f1'].map((k) => h('td', { class: 'num' }, r[k].toFixed(3))), h('td', { class: 'num' }, int(r.support))));
  $('per-class').replaceChildren(h('thead', {}, head), h('tbody', {}, body));
}

export function renderMisclassified(items) {
  const list = $('misclassified');
  if (!items.length) {
    list.replaceChildren(h('li', { class: 'muted' }, 'None: every example in this split was classified correctly.'));
    return;
  }
  const images = app.modelInfo?.kind === 'image' || Boolean(app.preview?.images);
  list.replaceChildren(...items.slice(0, 200).map((m) => {
    const text = h('span', { class: 'text' }, m.text);
    const meta = h('span', { class: 'meta' }, 'true ', h('b', {}, m.label), ' · predicted ', h('b', {}, m.predicted),
      ` · ${pct(m.confidence, 0)} confident`, m.line ? ` · line ${m.line}` : '');
    // An image shows itself: the page still holds the bytes of every file it loaded.
    return images ? h('li', { class: 'image' }, thumb(m.text), h('div', {}, text, meta)) : h('li', {}, text, meta);
  }));
}

const predict = debounce(() => {
  const text = $('try-text').value.trim();
  if (!text) {
    app.latest.predict = null;
    $('try-output').replaceChildren();
    return;
  }
  if (app.ready) app.latest.predict = send({ type: 'predict', texts: [text] });
}, 150);

// Try it, for an image model: images dropped or picked are classified at once.
let tried = { files: [], urls: [] };
async function tryImages(files) {
  if (!files.length || !app.ready) return;
  const buffers = await Promise.all(files.map((f) => f.arrayBuffer()));
  for (const url of tried.urls) URL.revokeObjectURL(url);
  tried = { files, urls: files.map((f) => URL.createObjectURL(f)) };
  app.latest.predict = send({ type: 'predictImages', names: files.map((f) => f.name), files: buffers });
}

/** Each image tried, with its top three classes. */
export function renderImagePredictions(predictions) {
  $('try-output').replaceChildren(h('ul', { class: 'predictions' }, predictions.map((p, i) => {
    const top = Object.entries(p.probs || {}).sort((a, b) => b[1] - a[1]).slice(0, 3);
    return h('li', {}, tried.urls[i] && h('img', { class: 'thumb', src: tried.urls[i], alt: p.text }),
      h('div', {}, h('span', { class: 'name' }, p.text),
        top.length ? barList(top, { max: 1, text: pct, label: `Top predictions for ${p.text}`, className: 'probs' }) : h('p', {}, 'Prediction: ', h('b', {}, p.label))));
  })));
}

/** Top three classes with bars. `probs` is in labels order (an array) or keyed by label. */
export function renderPrediction(p) {
  if (!p) return;
  const pairs = Array.isArray(p.probs) ? p.probs.map((v, i) => [app.labels[i] ?? String(i), v]) : Object.entries(p.probs || {});
  if (!pairs.length) {
    $('try-output').replaceChildren(h('p', {}, 'Prediction: ', h('b', {}, p.label)));
    return;
  }
  if (p.tags) {
    // Multi-label: the tags that reach the threshold, then the most probable tags with bars.
    const top = pairs.sort((a, b) => b[1] - a[1]).slice(0, Math.max(3, p.tags.length));
    const tags = p.tags.length ? p.tags.join(', ') : `none (no tag reaches ${p.threshold.toFixed(2)})`;
    $('try-output').replaceChildren(h('p', {}, 'Tags: ', h('b', {}, tags)), barList(top, { max: 1, text: pct, label: 'Tag probabilities', className: 'probs' }));
    return;
  }
  const top = pairs.sort((a, b) => b[1] - a[1]).slice(0, 3);
  $('try-output').replaceChildren(barList(top, { max: 1, text: pct, label: 'Top predictions', className: 'probs' }));
}

function startExport(type, button, merge = false) {
  button.disabled = true;
  button.dataset.label ??= button.textContent;
  button.textContent = 'Preparing…';
  send({ type, merge });
}
export function exportDone() {
  for (const b of [$('download-model'), $('download-merged'), $('download-checkpoint')]) {
    b.disabled = false;
    if (b.dataset.label) b.textContent = b.dataset.label;
  }
}

/** Attaches "Try it" (text and images) and the download buttons. */
export function wireResultsCard() {
  $('try-text').addEventListener('input', predict);
  $('try-files').addEventListener('change', (e) => {
    tryImages([...e.target.files]);
    e.target.value = '';
  });
  dropZone($('try-drop'), (dt) => tryImages([...dt.files]));
  $('download-model').addEventListener('click', (e) => startExport('export', e.currentTarget));
  $('download-merged').addEventListener('click', (e) => startExport('export', e.currentTarget, true));
  $('download-checkpoint').addEventListener('click', (e) => startExport('exportCheckpoint', e.currentTarget));
}
