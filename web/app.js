// edgetune page: the main thread. It owns no model: the Web Worker (worker.js) holds the wasm
// module, the model and the data, and this file turns its messages into the five cards
// (Model, Data, Settings, Train, Results) and the cards' controls into messages. Text and image
// models share every card; what differs (columns or thumbnails, text-only or image-only
// settings, the try-it box) follows the model's kind and the data's.
// Everything the worker sends is kept in `app`; `refresh()` derives the buttons' states and
// `window.edgetune` (read by the browser tests) from it after every message.

import { LineChart, ConfusionChart, barList } from './charts.js';
import { downloadModel, readPickedFolder, readDropped, modelName, clearModelCache } from './model-source.js';
import { imageKey, readPickedImages, readDroppedData } from './data-source.js';
import { NO_AUGMENT, loraOn, syncTraining, embeddingText, embeddedText, showDownloads } from './peft.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

// ---------------------------------------------------------------- small helpers

/** Builds an element: h('td', { class: 'num', title: 'x' }, 'text', child). Text always goes in
 *  as text nodes, never as HTML: file contents must not be able to inject markup. */
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'style') el.style.cssText = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  el.append(...children.flat().filter((c) => c != null && c !== false).map((c) => (c instanceof Node ? c : String(c))));
  return el;
}
const int = (n) => Number(n).toLocaleString('en-US');
/** "1 row", "3 rows": counts in reports read as sentences. */
const count = (n, noun, plural = `${noun}s`) => `${int(n)} ${n === 1 ? noun : plural}`;
const pct = (x, digits = 1) => `${(x * 100).toFixed(digits)} %`;
const mb = (bytes) => (bytes / 1e6).toFixed(1);
const size = (bytes) => (bytes < 1e6 ? `${Math.max(1, Math.round(bytes / 1e3))} kB` : `${mb(bytes)} MB`);
function clock(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '–';
  const s = Math.round(seconds);
  const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = String(s % 60).padStart(2, '0');
  return hh ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}
const debounce = (fn, ms, timer = 0) => (...args) => (clearTimeout(timer), (timer = setTimeout(fn, ms, ...args)));
/** "line 4" or "lines 3, 8, 12, …" (the report keeps the first few line numbers only). */
function lineList(lines, total) {
  if (!lines?.length) return '';
  return ` (line${total === 1 ? '' : 's'} ${lines.join(', ')}${total > lines.length ? ', …' : ''})`;
}

// ---------------------------------------------------------------- state

const app = {
  worker: null,
  prefer: ['auto', 'webgpu', 'cpu'].includes(params.get('backend')) ? params.get('backend') : 'auto', // sent with init
  ready: false,          // the current worker answered init
  restart: null,         // why the worker was restarted: 'resume' after a lost GPU
  busy: new Set(),       // operations in flight: init, download, model, data, prepare
  latest: {},            // id of the newest request of each kind; older replies are stale
  failed: false,         // the last operation ended in an error
  model: null,           // { source, files, fromCache }: kept to re-send to a new worker
  modelInfo: null,       // the worker's `model` reply
  data: null,            // { name, bytes } (a table or a zip) or { name, entries: [[path, ArrayBuffer]] } (a folder)
  columns: null,         // { text, label } chosen in the selects
  preview: null,         // a table's rows, or an image collection's classes (`images: true`)
  images: new Map(),     // image name (as the core names it) → Blob: thumbnails, misclassified examples
  imageUrls: new Map(),  // image name → object URL, made when first shown
  defaults: null,        // { text, image, demo }: the core's settings for each kind (worker's `ready`)
  formKind: 'text',      // whose defaults the settings form holds
  demo: false,           // "Try the demo" was clicked: train as soon as model and data are prepared
  prepared: null,
  labels: [],
  phase: null,           // 'training' | 'paused' | 'done'
  stopping: false,
  trainAfterPrepare: false,
  quick: false,          // the run is a Quick train (head only): what a restarted worker starts again
  keepsRun: true,        // the run checkpoints to OPFS (not a head-only one)
  run: null,             // { epochs, total, step (last step event), epochSteps }
  lostNotice: false,
  losses: 0,             // GPU losses during this run
  sort: { key: null, dir: 1 },
  hasModel: false,       // the worker holds a trained or fine-tuned model ("Add examples" continues it)
  addData: null,         // the new examples for "Add examples": { name, bytes } or { name, entries }
  personalizing: false,  // the run in progress is "Add examples"
};

// What the browser tests read; kept current by refresh() and the message handlers.
const pub = (window.edgetune = {
  state: 'idle', backend: null, adapter: null, events: [], valid: null, test: null,
  savedRun: null, lastCheckpointStep: null, predictions: null,
  config: null,          // the settings sent with the last `train` (and `quick`: Quick train)
  embedCache: { hits: 0, misses: 0 }, // the fast path's embeddings: reused, or computed
  lora: false, fast: false, // the trained model carries LoRA adapters; it was trained head-only on embeddings
  personalized: null,    // the last "Add examples": { added, replayed, old_classes, new_examples, relabelled, warning }
});

// For the tests: the worker destroys its GPUDevice (a real `device.lost`), to check that the run
// goes on from its last checkpoint.
pub.debugLoseDevice = () => app.worker?.postMessage({ type: 'debugLoseDevice' });

const lossChart = new LineChart($('loss-chart'), {
  label: 'Loss', xLabel: 'step', yMin: 0, xInteger: true, empty: 'The loss appears here during training',
  series: [
    { name: 'training loss', color: '#1d5fd1' },
    { name: 'validation loss', color: '#d9480f', markers: true, dash: [5, 4] },
  ],
});
const metricChart = new LineChart($('metric-chart'), {
  label: 'Validation metrics', xLabel: 'epoch', yMin: 0, yMax: 1, xInteger: true, xMin: 0,
  empty: 'Validation scores appear after each epoch',
  series: [
    { name: 'accuracy', color: '#157f3b', markers: true },
    { name: 'macro F1', color: '#7a3bd1', markers: true, dash: [5, 4] },
  ],
});
const confusion = new ConfusionChart($('confusion'), $('confusion-tip'));

// ---------------------------------------------------------------- worker

let nextId = 1;
/** Posts a message with a fresh id and returns the id. Buffers are copied, not transferred:
 *  the page keeps the model and data so a new worker (backend switch) can get them again. */
function send(msg) {
  const id = nextId++;
  app.worker.postMessage({ ...msg, id });
  return id;
}

function startWorker() {
  app.worker?.terminate();
  app.ready = false;
  app.modelInfo = null;
  app.prepared = null;
  // ?mock=1 swaps in a fake worker so the page can be worked on without a wasm build.
  const url = params.has('mock') ? `./dev-mock-worker.js${location.search}` : './worker.js';
  const worker = new Worker(url, { type: 'module' });
  app.worker = worker;
  app.hasModel = false; // a new worker holds only what the page sends it
  worker.onmessage = (e) => worker === app.worker && handle(e.data);
  worker.onerror = (e) => {
    if (worker !== app.worker) return;
    e.preventDefault();
    handle({ type: 'error', stage: 'init', message: `The worker stopped: ${e.message || 'worker.js could not be loaded'}` });
  };
  setBusy('init', true);
  app.latest.init = send({ type: 'init', prefer: app.prefer });
  $('backend-info').replaceChildren(h('span', { class: 'muted' }, 'Starting…'));
  refresh();
}

function setBusy(name, on) {
  if (on) {
    app.busy.add(name);
    app.failed = false;
  } else app.busy.delete(name);
}

/** True when a reply answers an older request than the newest of its kind (the user changed a
 *  column twice, or typed on): such replies are dropped. */
const stale = (kind, m) => m.id != null && app.latest[kind] != null && m.id !== app.latest[kind];

function handle(m) {
  const handler = handlers[m.type];
  if (handler) handler(m);
  else console.warn('edgetune: unknown message from the worker', m);
  refresh();
}

const handlers = {
  ready(m) {
    setBusy('init', false);
    app.ready = true;
    pub.backend = m.backend;
    pub.adapter = m.adapter;
    pub.savedRun = m.savedRun ?? null;
    app.defaults = m.defaults ?? null;
    renderBackend(m);
    if (app.restart === 'resume' && app.personalizing) {
      // The model "Add examples" continued lived in the lost worker: nothing to start again.
      app.restart = null;
      app.personalizing = false;
      app.phase = null;
      $('add-status').textContent = '';
      showError('The GPU was reset during "Add examples": the model it was adding to was lost with it. Train it again (or load its download as the model) and add the examples again.', 'train');
    } else if (app.restart === 'resume') {
      // The GPU was lost mid-run: the worker saved model, data and checkpoint itself.
      app.restart = null;
      // A head-only run keeps no checkpoint: a saved run in OPFS is an older one.
      if (m.savedRun && app.keepsRun) {
        app.lostNotice = true;
        notice(`The GPU was reset; resumed from step ${m.savedRun.step}`);
        send({ type: 'resumeSaved' });
        return;
      }
      // No checkpoint yet (or a head-only run, which keeps none): start over once the new
      // worker has the model and data again.
      app.phase = null;
      app.trainAfterPrepare = true;
    } else showResumeBanner(pub.savedRun);
    // A fresh worker holds nothing: hand it whatever this page has loaded.
    if (app.model) sendModel();
    if (app.data) sendData();
  },
  model(m) {
    if (stale('model', m)) return;
    setBusy('model', false);
    resolveErrors('model');
    app.modelInfo = m.info;
    const i = m.info;
    app.hasModel = Boolean(i.fine_tuned_labels?.length);
    const from = app.model?.fromCache ? ' (from cache)' : '';
    const tuned = i.fine_tuned_labels?.length ? ` · fine-tuned for ${i.fine_tuned_labels.length} labels` : '';
    const shape = i.kind === 'image' ? `${i.architecture}, ${i.image_size}×${i.image_size} input, ${(i.params / 1e6).toFixed(2)} M parameters`
      : `${i.layers} layers, ${i.hidden_size} hidden, ${(i.params / 1e6).toFixed(1)} M parameters`;
    status(`${modelName(i.source)}${from} ready: ${shape}${tuned}`, true);
    // A model of the other kind: the form takes that kind's defaults (the same kind keeps edits).
    if (i.kind !== app.formKind) fillSettings(app.defaults?.[i.kind], i.kind);
    if (i.fine_tuned_labels?.length && !pub.valid && !pub.test) {
      // A fine-tuned model can classify right away: offer "Try it" before any training.
      app.labels = i.fine_tuned_labels;
      $('results').hidden = false;
      $('report-section').hidden = true;
    }
    schedulePrepare();
  },
  data(m) {
    if (stale('data', m)) return;
    setBusy('data', false);
    resolveErrors('data');
    const p = (app.preview = m.preview);
    if (m.images) setImages(m.images.map(([name, bytes]) => [name, new Blob([bytes])]));
    if (p.images) {
      app.columns = null;
      renderImagePreview();
    } else {
      app.columns = { text: p.text_column, label: p.label_column };
      renderPreview();
    }
    schedulePrepare();
  },
  prepared(m) {
    if (stale('prepare', m)) return;
    setBusy('prepare', false);
    resolveErrors('prepare');
    app.prepared = m;
    app.labels = m.labels;
    renderDataReport(m);
    renderMemory(m.memory);
    if (app.trainAfterPrepare && (app.quick || m.memory?.fits !== false)) {
      app.trainAfterPrepare = false;
      startTraining(app.quick);
      notice('The GPU was reset before the first checkpoint; training restarted from the beginning');
    } else if (app.demo && m.memory?.fits !== false) {
      app.demo = false;
      startTraining();
    }
  },
  event(m) {
    const ev = m.event;
    pub.events.push(ev);
    onEvent[ev.event]?.(ev);
  },
  checkpoint(m) {
    pub.lastCheckpointStep = m.step;
    const at = m.saved_at ? ` (${new Date(m.saved_at).toLocaleTimeString()})` : '';
    $('checkpoint-status').textContent = `checkpoint saved at step ${m.step}${at}`;
  },
  trained(m) {
    pub.valid = m.valid ?? pub.valid;
    pub.test = m.test ?? pub.test;
    pub.lora = Boolean(m.lora);
    pub.fast = Boolean(m.fast);
    showDownloads(m);
    app.phase = 'done';
    app.stopping = false;
    if (!app.modelInfo) status('Fine-tuned model ready (resumed run): try it or download it below.', true);
    // A run resumed after a reload: the page learns the model's kind only now (its try-it box).
    if (m.kind && m.kind !== app.formKind) fillSettings(app.defaults?.[m.kind], m.kind);
    app.hasModel = true;
    // "Add examples" continues the model the way it was trained: a head-only model stays one.
    $('add-quick').checked = pub.fast;
    showResults();
    renderMisclassified(m.misclassified || []);
    if (app.personalizing) personalized();
  },
  personalizing(m) {
    pub.personalized = m;
    const added = m.added.length ? `adding ${count(m.added.length, 'class', 'classes')} (${m.added.join(', ')})` : 'no new classes';
    const left = m.relabelled ? ` (${int(m.relabelled)} left out: the new examples label them otherwise)` : '';
    $('add-status').textContent = `${count(m.new_examples, 'new example')}, ${added}, with ${count(m.replayed, 'replayed example')} ` +
      `of the earlier training data${left}.${m.warning ? ` Warning: ${m.warning}.` : ''}`;
  },
  cancelled(m) {
    if (app.personalizing) $('add-status').textContent = '';
    app.personalizing = false;
    app.phase = pub.valid || pub.test ? 'done' : null;
    app.stopping = false;
    $('progress-text').textContent = m.message;
    $('epoch-summary').textContent = '';
  },
  paused(m) {
    app.phase = 'paused';
    renderProgress();
    $('epoch-summary').textContent = `Paused at step ${m.step}. Continue when you are ready.`;
  },
  continued() {
    app.phase = 'training';
    $('epoch-summary').textContent = '';
  },
  predictions(m) {
    if (m.id != null && m.id !== app.latest.predict) return; // the text (or the images) changed since
    pub.predictions = m.predictions ?? null;
    if (m.images) renderImagePredictions(m.predictions || []);
    else renderPrediction(m.predictions?.[0]);
  },
  augmentPreview(m) {
    if (m.id !== app.latest.augment) return;
    app.latest.augment = null;
    const img = $('augment-preview-img');
    if (img.src) URL.revokeObjectURL(img.src);
    img.src = URL.createObjectURL(new Blob([m.bytes], { type: 'image/png' }));
    $('augment-preview').hidden = false;
  },
  exported(m) {
    const url = URL.createObjectURL(new Blob([m.bytes], { type: 'application/zip' }));
    const a = h('a', { href: url, download: m.name || 'edgetune-model.zip', hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    exportDone();
  },
  discarded() {
    pub.savedRun = null;
    showResumeBanner(null);
  },
  log(m) {
    $('log').textContent = m.message;
  },
  lost(m) {
    $('log').textContent = m.message || 'The GPU device was lost.';
    // A lost device cannot be revived inside the worker: start a new one. Mid-run the new
    // worker continues from its last checkpoint; otherwise it just gets the model and data again.
    let running = app.phase === 'training' || app.phase === 'paused';
    if (running && ++app.losses > 3) {
      // A device that keeps failing will not finish this run: say what to do instead.
      showError('The GPU was reset several times during this run: choose Compute: CPU in Settings and train again.', 'train');
      running = false;
      app.phase = null;
      app.failed = true;
    }
    app.restart = running ? 'resume' : null;
    if (running) app.phase = 'training';
    startWorker();
  },
  error(m) {
    showError(m.message, m.stage);
    const stage = m.stage;
    // A failed prediction, preview or download leaves the page as it was; anything else needs the
    // user (and ends a demo waiting to start).
    if (!['predict', 'export', 'augment'].includes(stage)) app.failed = true;
    if (app.failed) app.demo = false;
    if (stage === 'augment') app.latest.augment = null;
    if (stage === 'init') $('backend-info').replaceChildren(h('span', { class: 'notice' }, 'The worker did not start.'));
    if (['init', 'model', 'data', 'prepare', 'predict'].includes(stage) && !stale(stage, m)) setBusy(stage, false);
    if (stage === 'model') {
      app.modelInfo = null;
      status('The model could not be loaded.');
    } else if (stage === 'data') {
      // A new file that cannot be read leaves nothing to show; a bad column choice keeps the
      // preview so another column can be picked.
      if (!app.columns) clearData();
      app.prepared = null;
    } else if (stage === 'prepare') {
      app.prepared = null;
      $('data-report').replaceChildren();
      $('memory').hidden = true;
    } else if (stage === 'train' || stage === 'resume') {
      if (app.personalizing) $('add-status').textContent = '';
      app.personalizing = false;
      app.phase = pub.valid || pub.test || app.hasModel ? 'done' : null;
      app.stopping = false;
      app.trainAfterPrepare = false;
    } else if (stage === 'export') exportDone();
  },
};

// ---------------------------------------------------------------- training events

const onEvent = {
  skipped(ev) {
    notice(`Step ${int(ev.step)} skipped: ${ev.reason} (${count(ev.skipped, 'batch', 'batches')} skipped so far)`);
  },
  embedding(ev) {
    $('progress').max = ev.total;
    $('progress').value = ev.embedded;
    $('progress-text').textContent = embeddingText(ev, app.formKind);
  },
  embedded(ev) {
    pub.embedCache[ev.cache === 'hit' ? 'hits' : 'misses'] += 1;
    $('embed-status').textContent = embeddedText(ev, app.formKind);
  },
  start(ev) {
    const resumed = ev.resumed_at_step || 0;
    app.run = { epochs: ev.epochs, total: ev.total_steps, step: null, epochSteps: app.run?.epochSteps || [] };
    // Resuming redraws from the checkpoint: points after it are about to be recomputed.
    const keptEpochs = app.run.epochSteps.filter((s) => s <= resumed).length;
    app.run.epochSteps.length = keptEpochs;
    lossChart.truncate(resumed);
    metricChart.truncate(keptEpochs);
    lossChart.setXMax(ev.total_steps);
    metricChart.setXMax(ev.epochs);
    $('progress').max = ev.total_steps;
    $('progress').value = resumed;
    const test = ev.test ? ` · ${int(ev.test)} test` : '';
    $('progress-text').textContent = `${resumed ? `Resuming at step ${resumed}` : 'Starting'}: ` +
      `${int(ev.train)} training examples · ${int(ev.valid)} validation${test} · ${ev.classes} classes · ` +
      `${(ev.trainable_params / 1e6).toFixed(1)} M of ${(ev.total_params / 1e6).toFixed(1)} M parameters trained`;
    if (app.lostNotice) {
      app.lostNotice = false;
      notice(`The GPU was reset; resumed from step ${resumed}`);
    }
  },
  step(ev) {
    app.run ??= { epochs: 0, total: ev.total_steps, epochSteps: [] };
    app.run.step = ev;
    lossChart.add(0, ev.step, ev.loss);
    scheduleProgress();
  },
  epoch(ev) {
    const v = ev.valid || {};
    const at = app.run?.step?.step ?? 0;
    app.run?.epochSteps.push(at);
    lossChart.add(1, at, v.loss);
    const multi = 'micro_f1' in v;
    metricChart.series[0].name = multi ? 'micro F1' : 'accuracy';
    $('metric-caption').textContent = `Validation ${multi ? 'micro F1' : 'accuracy'} and macro F1 per epoch`;
    if ('accuracy' in v || multi) {
      metricChart.add(0, ev.epoch, multi ? v.micro_f1 : v.accuracy);
      metricChart.add(1, ev.epoch, v.macro_f1);
    }
    const score = multi ? `micro F1 ${v.micro_f1.toFixed(3)} · macro F1 ${v.macro_f1.toFixed(3)} (threshold ${v.threshold.toFixed(2)})`
      : 'accuracy' in v ? `accuracy ${pct(v.accuracy)} · macro F1 ${v.macro_f1.toFixed(3)}` : `RMSE ${v.rmse?.toFixed(4)} · R² ${v.r2?.toFixed(3)}`;
    $('epoch-summary').textContent = `Epoch ${ev.epoch} / ${ev.epochs}: validation ${score} · loss ${v.loss?.toFixed(4)}${ev.best ? ' · best so far' : ''}`;
  },
  done(ev) {
    pub.valid = ev.valid ?? null;
    pub.test = ev.test ?? null;
    app.phase = 'done';
    app.stopping = false;
    const best = ev.best_epoch ? ` Best epoch: ${ev.best_epoch}.` : '';
    $('epoch-summary').textContent = `${ev.stopped_early ? 'Stopped early' : 'Finished'}.${best}`;
    renderProgress();
    showResults();
  },
};

let progressFrame = 0;
/** Step events can come faster than frames: paint the progress once per frame at most. */
function scheduleProgress() {
  progressFrame ||= requestAnimationFrame(() => ((progressFrame = 0), renderProgress()));
}

function renderProgress() {
  const s = app.run?.step;
  if (!s) return;
  $('progress').max = s.total_steps;
  $('progress').value = s.step;
  const epochs = app.run.epochs ? ` / ${app.run.epochs}` : '';
  const state = app.phase === 'paused' ? ' · paused' : app.phase === 'done' ? ' · done' : '';
  $('progress-text').textContent = `step ${s.step} / ${s.total_steps} · epoch ${s.epoch}${epochs} · ` +
    `${(s.samples_per_s ?? 0).toFixed(1)} samples/s · ETA ${clock(s.eta_s)}${state}`;
}

// ---------------------------------------------------------------- 1 Model

function status(text, ok = false) {
  $('model-status').textContent = text;
  $('model-status').classList.toggle('ok', ok);
}

let progressShown = { done: 0, total: 0 };
let modelFrame = 0;
function showDownload(p) {
  progressShown = p;
  modelFrame ||= requestAnimationFrame(() => {
    modelFrame = 0;
    const { done, total } = progressShown;
    const bar = $('model-progress');
    bar.hidden = false;
    bar.max = Math.max(total, done, 1);
    bar.value = done;
    const text = `${mb(done)} / ${mb(Math.max(total, done))} MB`;
    bar.textContent = text;
    $('model-progress-text').textContent = text;
  });
}

let download = null;
async function loadModel(getFiles, what) {
  download?.abort();
  const ctl = (download = new AbortController());
  clearErrors();
  setBusy('download', true);
  app.model = null;
  app.modelInfo = null;
  app.prepared = null;
  status(what);
  refresh();
  try {
    const got = await getFiles(ctl.signal);
    if (ctl !== download) return;
    app.model = got;
    const bytes = Object.values(got.files).reduce((n, b) => n + b.byteLength, 0);
    showDownload({ done: bytes, total: bytes });
    sendModel();
  } catch (e) {
    if (e.name === 'AbortError' || ctl !== download) return;
    showError(e.message);
    app.failed = true;
    app.demo = false;
    status('No model loaded.');
  } finally {
    if (ctl === download) setBusy('download', false);
    refresh();
  }
}

function sendModel() {
  app.modelInfo = null;
  app.prepared = null;
  status(`${modelName(app.model.source)}${app.model.fromCache ? ' (from cache)' : ''}: loading into the worker…`);
  if (!app.ready) return; // the `ready` handler sends it
  setBusy('model', true);
  app.latest.model = send({ type: 'model', source: app.model.source, files: app.model.files });
}

function loadFromUrl() {
  const url = $('model-url').value;
  loadModel((signal) => downloadModel(url, { signal, onProgress: showDownload }), 'Downloading the model…');
}

$('model-url').value = params.get('model') || $('model-url').value;
$('backend').value = app.prefer;
$('model-load').addEventListener('click', loadFromUrl);
$('model-url').addEventListener('keydown', (e) => e.key === 'Enter' && loadFromUrl());
$('model-files').addEventListener('change', (e) => {
  const files = e.target.files;
  if (files.length) loadModel(() => readPickedFolder(files), 'Reading the folder…');
  e.target.value = '';
});
dropZone($('model-drop'), (dt) => {
  const reading = readDropped(dt); // must start inside the drop event
  loadModel(() => reading, 'Reading the folder…');
});
$('clear-cache').addEventListener('click', async () => {
  await clearModelCache();
  $('log').textContent = 'Downloaded models forgotten: the next load downloads again.';
});

// "Try the demo": the committed demo assets (crate/assets/demo, which scripts/build-web.sh
// copies to pkg/demo beside the wasm build), the settings of `edgetune demo`, and training starts
// as soon as the data is prepared. ?demo_epochs=N shortens it (the browser tests use it).
const DEMO = './pkg/demo/';
async function fetchDemo(file) {
  const r = await fetch(DEMO + file);
  if (!r.ok) throw new Error(`the demo file ${file} could not be loaded (HTTP ${r.status}): build the page with scripts/build-web.sh, which copies it to web/pkg/demo`);
  return r.arrayBuffer();
}
function startDemo() {
  clearErrors();
  fillSettings(app.defaults?.demo, 'image');
  const epochs = Number(params.get('demo_epochs'));
  if (epochs > 0) $('epochs').value = String(epochs);
  app.demo = true;
  loadModel(async () => ({ source: 'resnet20-cifar10 (demo)', files: { 'model.safetensors': await fetchDemo('resnet20-cifar10/model.safetensors') }, fromCache: false }),
    'Loading the demo model (ResNet-20, CIFAR-10)…');
  fetchDemo('digits.zip').then((bytes) => setDataFile('digits.zip', bytes), dataFailed);
}
$('demo').addEventListener('click', startDemo);

/** Highlights a drop zone while something is dragged over it and hands the drop on. */
function dropZone(zone, onDrop) {
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    if (!zone.closest('fieldset')?.disabled) onDrop(e.dataTransfer);
  });
}
// A file dropped beside a zone would make the browser navigate away from the page.
window.addEventListener('dragover', (e) => e.preventDefault());
window.addEventListener('drop', (e) => e.preventDefault());

// ---------------------------------------------------------------- 2 Data

async function loadDataFile(file) {
  if (!file) return;
  clearErrors();
  setDataFile(file.name, await file.arrayBuffer());
}

/** A table, or a zip of class folders, as one file's bytes. */
function setDataFile(name, bytes) {
  app.data = { name, bytes };
  app.columns = null;
  setImages([]); // a zip's images come back from the worker
  $('data-name').textContent = `${name} · ${size(bytes.byteLength)}`;
  sendData();
  refresh();
}

/** A folder of class folders: every file's bytes go to the worker, the Files stay here as the
 *  Blobs of thumbnails. */
async function loadImageFolder(folder) {
  clearErrors();
  const entries = await Promise.all(folder.files.map(async ([path, file]) => [path, await file.arrayBuffer()]));
  app.data = { name: folder.name, entries };
  app.columns = null;
  setImages(folder.files);
  const bytes = entries.reduce((n, [, b]) => n + b.byteLength, 0);
  $('data-name').textContent = `${folder.name}/ · ${count(entries.length, 'file')} · ${size(bytes)}`;
  sendData();
  refresh();
}

function dataFailed(e) {
  showError(e.message || String(e), 'data');
  app.failed = true;
  app.demo = false;
  refresh();
}

function sendData() {
  app.prepared = null;
  if (!app.ready) return; // the `ready` handler sends it
  setBusy('data', true);
  const msg = { type: app.data.entries ? 'images' : 'data', ...dataFields(app.data) };
  if (app.columns) Object.assign(msg, { text_column: app.columns.text, label_column: app.columns.label });
  app.latest.data = send(msg);
}

function clearData() {
  app.preview = null;
  $('data-preview').hidden = true;
  $('data-preview').replaceChildren();
  $('image-preview').hidden = true;
  $('image-preview').replaceChildren();
  $('data-columns').hidden = false;
  $('data-report').replaceChildren();
  for (const id of ['text-column', 'label-column']) Object.assign($(id), { disabled: true }).replaceChildren();
}

/** Wires `${prefix}-file`, `${prefix}-folder` and the drop zone `${prefix}-drop`: a picked or
 *  dropped file goes to `onFile`, a folder of images to `onFolder`, a failure to `failed`. */
function dataInputs(prefix, onFile, onFolder, failed) {
  $(`${prefix}-file`).addEventListener('change', (e) => {
    onFile(e.target.files[0]).catch(failed);
    e.target.value = '';
  });
  $(`${prefix}-folder`).addEventListener('change', (e) => {
    if (e.target.files.length) onFolder(readPickedImages(e.target.files)).catch(failed);
    e.target.value = '';
  });
  dropZone($(`${prefix}-drop`), (dt) => {
    const reading = readDroppedData(dt); // must start inside the drop event
    reading.then((got) => (got.file ? onFile(got.file) : onFolder(got.folder))).catch(failed);
  });
}
dataInputs('data', loadDataFile, loadImageFolder, dataFailed);

/** What the worker is sent for data held as `{ name, bytes }` (a file) or `{ name, entries }`
 *  (a folder's files). */
function dataFields(d) {
  return d.entries
    ? { name: d.name, names: d.entries.map(([n]) => n), files: d.entries.map(([, b]) => b) }
    : { name: d.name, bytes: d.bytes };
}

/** Replaces the page's images (name → Blob), releasing the object URLs of the old ones. */
function setImages(pairs) {
  for (const url of app.imageUrls.values()) URL.revokeObjectURL(url);
  app.imageUrls.clear();
  app.images = new Map(pairs.map(([name, blob]) => [imageKey(name), blob]));
}

/** A thumbnail of the image the core calls `name`, or a placeholder when the page does not hold
 *  it (a run resumed after a reload). */
function thumb(name) {
  const key = imageKey(name);
  const blob = app.images.get(key);
  if (!blob) return h('span', { class: 'thumb missing', title: name, 'aria-hidden': 'true' }, '?');
  if (!app.imageUrls.has(key)) app.imageUrls.set(key, URL.createObjectURL(blob));
  return h('img', { class: 'thumb', src: app.imageUrls.get(key), alt: name, title: name, decoding: 'async' });
}

/** An image collection: its classes, each with its count and a few thumbnails. */
function renderImagePreview() {
  const p = app.preview;
  $('data-preview').hidden = true;
  $('data-columns').hidden = true;
  for (const id of ['text-column', 'label-column']) Object.assign($(id), { disabled: true }).replaceChildren();
  const left = p.skipped.length ? ` · ${count(p.skipped.length, 'file')} left out (the data check below says why)` : '';
  const rows = p.classes.map((c) => h('div', { class: 'class-row' },
    h('div', { class: 'class-name' }, h('b', { title: c.label }, c.label), h('span', { class: 'small muted' }, count(c.count, 'image'))),
    h('div', { class: 'thumbs' }, c.samples.map((name) => thumb(name)))));
  $('image-preview').replaceChildren(h('p', { class: 'small muted' }, `${count(p.total, 'image')} in ${count(p.classes.length, 'class', 'classes')}${left}`), ...rows);
  $('image-preview').hidden = false;
}
for (const id of ['text-column', 'label-column']) {
  $(id).addEventListener('change', () => {
    app.columns = { text: $('text-column').value, label: $('label-column').value };
    sendData();
    refresh();
  });
}

function renderPreview() {
  const p = app.preview;
  $('image-preview').hidden = true;
  $('data-columns').hidden = false;
  for (const [id, chosen] of [['text-column', p.text_column], ['label-column', p.label_column]]) {
    $(id).replaceChildren(...p.columns.map((c) => h('option', { value: c, selected: c === chosen }, c)));
    $(id).disabled = false;
  }
  const role = (c) => (c === p.text_column ? 'col-text' : c === p.label_column ? 'col-label' : null);
  const head = h('tr', {}, p.columns.map((c) => h('th', { class: role(c), scope: 'col' }, c,
    c === p.text_column && h('span', { class: 'tag' }, 'text'), c === p.label_column && h('span', { class: 'tag' }, 'label'))));
  const body = document.createDocumentFragment();
  for (const row of p.rows) {
    body.append(h('tr', {}, p.columns.map((c, i) => h('td', { class: role(c), title: row[i]?.length > 60 ? row[i] : null }, row[i] ?? ''))));
  }
  const caption = `First ${p.rows.length} of ${int(p.total_rows)} rows · ${String(p.format).toUpperCase()}`;
  $('data-preview').replaceChildren(h('table', {}, h('caption', {}, caption), h('thead', {}, head), h('tbody', {}, body)));
  $('data-preview').hidden = false;
}

function renderDataReport(m) {
  const blocks = m.reports.map((r, i) => {
    const classes = r.classes || [];
    const most = Math.max(1, ...classes.map(([, n]) => n));
    const shown = classes.length > 40 ? [...classes].sort((a, b) => b[1] - a[1]).slice(0, 40) : classes;
    const [unit, units] = r.multi_label ? ['tag', 'tags'] : ['class', 'classes'];
    // An image collection names files (left out, duplicate, conflicting) where a table has lines.
    const issues = r.images ? imageIssues(r) : [];
    if (r.duplicates_removed && !r.images) issues.push(`${count(r.duplicates_removed, 'duplicate row')} removed${lineList(r.duplicate_lines, r.duplicates_removed)}`);
    if (r.empty_text) issues.push(`${count(r.empty_text, 'row')} with an empty text dropped${lineList(r.empty_text_lines, r.empty_text)}`);
    if (r.missing_label) issues.push(`${count(r.missing_label, 'row')} without a label dropped${lineList(r.missing_label_lines, r.missing_label)}`);
    if (r.too_long) issues.push(`${count(r.too_long, 'text is', 'texts are')} longer than ${r.max_length} tokens and will be cut to fit`);
    const rare = classes.filter(([, n]) => n < 3).map(([l]) => l);
    if (rare.length) issues.push(`${r.multi_label ? 'Tags' : 'Classes'} with fewer than 3 examples (too few to validate on): ${rare.slice(0, 8).join(', ')}${rare.length > 8 ? ', …' : ''}`);
    if (r.conflicts?.length && !r.images) {
      issues.push([`${count(r.conflicts.length, 'text appears', 'texts appear')} with different labels (kept; they are often labelling mistakes):`,
        h('ul', {}, r.conflicts.slice(0, 5).map((c) => h('li', {},
          `“${c.text.length > 80 ? c.text.slice(0, 79) + '…' : c.text}”: ${c.labels.join(' / ')}${lineList(c.lines.slice(0, 5), c.lines.length)}`)))]);
    }
    const splits = i === 0 && m.splits
      ? h('p', { class: 'splits' }, `Split: ${int(m.splits.train)} train · ${int(m.splits.valid)} validation · ${int(m.splits.test)} test`) : null;
    return h('div', { class: 'report' },
      h('h3', {}, `Data check: ${r.source}`),
      h('p', {}, `${count(r.rows, r.images ? 'file' : 'row')} read, ${int(r.kept)} ${r.images ? 'images ' : ''}kept, ${count(classes.length, unit, units)}` +
        (r.multi_label ? ` (${r.tags_per_row.toFixed(2)} per row, ${int(r.tag_sets)} distinct sets).` : '.')),
      splits,
      barList(shown, { max: most, text: int, label: `Examples per ${unit}` }),
      shown.length < classes.length && h('p', { class: 'small muted' }, `The 40 largest of ${classes.length} ${units} are shown.`),
      h('ul', { class: 'issues' }, issues.length ? issues.map((t) => h('li', {}, t)) : h('li', { class: 'muted' }, 'No problems found.')));
  });
  $('data-report').replaceChildren(...blocks);
}

/** What an image collection's report lists: every file left out and why (the first ten shown),
 *  duplicates removed, identical images under two labels. */
function imageIssues(r) {
  const issues = [];
  const skipped = r.skipped || [];
  if (skipped.length) {
    issues.push([`${count(skipped.length, 'file')} left out:`, h('ul', {}, skipped.slice(0, 10).map((f) => h('li', {}, `${f.name}: ${f.why}`)),
      skipped.length > 10 && h('li', { class: 'muted' }, `… and ${int(skipped.length - 10)} more`))]);
  }
  if (r.duplicates_removed) {
    const names = r.duplicate_names || [];
    const list = names.length ? ` (${names.join(', ')}${r.duplicates_removed > names.length ? ', …' : ''})` : '';
    issues.push(`${count(r.duplicates_removed, 'duplicate image')} removed: same pixels and label as another${list}`);
  }
  if (r.conflicts?.length) {
    issues.push([`${count(r.conflicts.length, 'image appears', 'images appear')} under different labels (kept; check them):`,
      h('ul', {}, r.conflicts.slice(0, 5).map((c) => h('li', {}, `${c.text}: ${c.labels.join(' / ')}`)))]);
  }
  return issues;
}

/** Says why Train is disabled when the run would not fit (the advice names the numbers). */
function renderMemory(memory) {
  const box = $('memory');
  box.hidden = !memory || (memory.fits && !memory.advice);
  if (box.hidden) return;
  box.classList.toggle('good', !!memory.fits);
  const need = `training needs about ${Math.round(memory.estimate_mb)} MB (largest buffer ${Math.round(memory.largest_buffer_mb)} MB): lower the batch size or max length`;
  box.textContent = memory.fits ? memory.advice : `This run does not fit on this device: ${memory.advice || need}.`;
}

// ---------------------------------------------------------------- 3 Settings

const NULLABLE = new Set(['max_grad_norm', 'head_lr', 'dropout', 'image_fit', 'max_memory_mb']);
const INTEGER = new Set(['batch_size', 'max_length', 'freeze_layers', 'grad_accum', 'patience', 'seed', 'checkpoint_every', 'augment.crop_padding', 'lora.r']);

/** Whether a setting applies to the model's kind: the other kind's are hidden and not sent (the
 *  core lays what is sent over its defaults for the kind). */
const applies = (el) => !el.closest('.text-only, .image-only')?.hidden;
/** The augmentation switch (checkbox) of an amount field, if it has one. */
const switchOf = (el) => (el.dataset.switch ? $(el.dataset.switch) : null);

/** The TrainConfig the form describes (snake_case keys, as crate/src/train/config.rs; `a.b`
 *  names fill nested tables, like `augment`), or null while a field is invalid (that field is
 *  marked). Empty optional fields are sent as null; a switched-off augmentation as 0. */
function readConfig() {
  const config = {};
  let ok = true;
  for (const el of $('settings').elements) {
    if (!el.name || !applies(el) || (el.dataset.lora != null && !loraOn())) continue;
    let value;
    if (el.type === 'checkbox') value = el.checked;
    else if (el.type === 'text') {
      // The tag separator: one character, only sent (and checked) for a multi-label run.
      value = el.value;
      const bad = !el.disabled && [...value].length !== 1;
      el.setAttribute('aria-invalid', String(bad));
      if (bad) ok = false;
    } else if (el.tagName === 'SELECT') value = el.value === '' && NULLABLE.has(el.name) ? null : el.value;
    else if (switchOf(el) && !switchOf(el).checked) value = 0;
    else if (el.value === '' && NULLABLE.has(el.name) && !el.validity.badInput) value = null;
    else {
      value = Number(el.value);
      const bad = el.value === '' || !el.checkValidity() || !Number.isFinite(value) || (INTEGER.has(el.name) && !Number.isInteger(value));
      el.setAttribute('aria-invalid', String(bad));
      if (bad) ok = false;
    }
    const [table, key] = el.name.includes('.') ? el.name.split('.') : [null, el.name];
    if (table) (config[table] ??= {})[key] = value;
    else config[key] = value;
  }
  if (applies($('multi-label')) && $('multi-label').checked) config.task = 'multi_label';
  else delete config.label_sep;
  if (!loraOn()) config.lora = null;
  if (config.head_only && app.formKind === 'image') config.augment = { ...NO_AUGMENT };
  if (app.columns) Object.assign(config, { text_column: app.columns.text, label_column: app.columns.label });
  return ok ? config : null;
}

/** A setting's value as the form shows it: f32 fields arrive as 0.10000000149011612. */
const formValue = (v) => (typeof v === 'number' && !Number.isInteger(v) ? String(parseFloat(v.toPrecision(7))) : String(v));

/** Fills the form with `config` (a kind's defaults from the core, or the demo's; all but
 *  `checkpoint_every`, which is the page's own) and shows the settings of `kind`. */
function fillSettings(config, kind) {
  app.formKind = kind;
  showKind(kind);
  if (!config) return;
  for (const el of $('settings').elements) {
    if (!el.name || el.name === 'checkpoint_every') continue;
    const value = el.name.split('.').reduce((o, k) => o?.[k], config);
    if (value === undefined) continue;
    const toggle = switchOf(el);
    if (toggle) {
      // An amount of 0 is the switch off; the field keeps its last amount for switching on.
      toggle.checked = value > 0;
      if (value > 0) el.value = formValue(value);
    } else if (el.type === 'checkbox') el.checked = Boolean(value);
    else el.value = value == null ? '' : formValue(value);
    el.removeAttribute('aria-invalid');
  }
  $('multi-label').checked = config.task === 'multi_label';
  syncMultiLabel();
  if (config.head_lr_factor) {
    $('head-lr-hint').textContent = `Empty: ${formValue(config.head_lr_factor)} × learning rate`;
    $('head-lr').placeholder = `${formValue(config.head_lr_factor)} × lr`;
  }
  $('lora-on').checked = Boolean(config.lora);
  syncSwitches();
}

/** Shows the settings (and the try-it box) of a kind of model, hiding the other kind's. */
function showKind(kind) {
  const image = kind === 'image';
  for (const el of document.querySelectorAll('.text-only')) el.hidden = image;
  for (const el of document.querySelectorAll('.image-only')) el.hidden = !image;
  for (const el of document.querySelectorAll('label[data-text]')) el.textContent = image ? el.dataset.image : el.dataset.text;
}

/** The tag separator only applies to a multi-label run. */
function syncMultiLabel() {
  $('label-sep').disabled = !$('multi-label').checked;
  if ($('label-sep').disabled) $('label-sep').removeAttribute('aria-invalid');
}

/** An augmentation switched off greys out its amount; then the settings that go together
 *  (LoRA, head-only, augmentation: peft.js). */
function syncSwitches() {
  for (const el of document.querySelectorAll('input[data-switch]')) {
    el.disabled = !switchOf(el).checked;
    if (el.disabled) el.removeAttribute('aria-invalid');
  }
  syncTraining(app.formKind);
}

$('augment-preview-button').addEventListener('click', () => {
  const config = readConfig();
  if (!config || !app.ready) return;
  app.latest.augment = send({ type: 'previewAugment', config });
  refresh();
});

/** Asks the worker to clean, split and tokenize for the current settings, when it has both a
 *  model and data and nothing is training. */
function prepare() {
  if (!app.ready || !app.modelInfo || !app.preview || app.phase === 'training' || app.phase === 'paused') return;
  if (app.busy.has('model') || app.busy.has('data')) return; // their replies schedule another
  const config = readConfig();
  app.prepared = null;
  if (config) {
    setBusy('prepare', true);
    app.latest.prepare = send({ type: 'prepare', config });
  }
  refresh();
}
const schedulePrepare = debounce(prepare, 300);

$('settings').addEventListener('input', (e) => {
  if (e.target.matches('.switch input[type="checkbox"], #lora-on, #head-only')) syncSwitches();
  if (e.target.id === 'multi-label') syncMultiLabel();
  if (e.target.id !== 'backend') schedulePrepare();
});
$('settings').addEventListener('submit', (e) => e.preventDefault());
$('backend').addEventListener('change', (e) => {
  // The backend is fixed per worker: a new one gets the model and data again on `ready`.
  app.prefer = e.target.value;
  startWorker();
});

function renderBackend(m) {
  const name = m.backend === 'webgpu' ? 'WebGPU' : 'CPU (wasm)';
  const limit = m.limits?.maxStorageBufferBindingSize;
  const parts = [h('div', {}, h('span', { class: 'backend-name' }, `${name} — ${m.adapter}`),
    limit && h('span', { class: 'small muted' }, ` · buffers up to ${Math.round(limit / 1048576)} MB`))];
  if (m.notice) parts.push(h('span', { class: 'notice' }, m.notice));
  $('backend-info').replaceChildren(...parts);
}

// ---------------------------------------------------------------- 4 Train

/** Starts a run with the form's settings; `quick`: Quick train (head only), the core's fast-path
 *  settings for the same data. */
function startTraining(quick = false) {
  const config = readConfig();
  if (!config) return;
  clearErrors();
  resetRun();
  app.phase = 'training';
  app.failed = false;
  app.quick = quick;
  app.keepsRun = !quick && !config.head_only;
  pub.config = { ...config, quick };
  send({ type: 'train', config, quick });
  refresh();
}

/** Clears the charts and results of a previous run. */
function resetRun() {
  app.run = null;
  pub.valid = pub.test = null;
  lossChart.clear();
  metricChart.clear();
  $('progress').value = 0;
  $('progress-text').textContent = 'Starting…';
  for (const id of ['epoch-summary', 'checkpoint-status', 'embed-status']) $(id).textContent = '';
  $('train-notice').hidden = true;
  $('results').hidden = true;
  $('added-summary').hidden = true;
  showResumeBanner(null);
}

function notice(text) {
  $('train-notice').textContent = text;
  $('train-notice').hidden = false;
}

$('train').addEventListener('click', () => ((app.losses = 0), startTraining()));
$('quick-train').addEventListener('click', () => ((app.losses = 0), startTraining(true)));
$('pause').addEventListener('click', () => send({ type: 'pause' }));
$('continue').addEventListener('click', () => send({ type: 'continue' }));
$('stop').addEventListener('click', () => {
  app.stopping = true;
  send({ type: 'stop' });
  $('epoch-summary').textContent = 'Stopping: finishing with the best parameters so far…';
  refresh();
});

function showResumeBanner(saved) {
  $('resume-banner').hidden = !saved;
  if (!saved) return;
  const when = saved.saved_at ? `, saved ${new Date(saved.saved_at).toLocaleString()}` : '';
  $('resume-text').textContent = `An unfinished run was found: step ${saved.step} of ${saved.total_steps} on ${saved.data_name}` +
    ` (${modelName(saved.model_source || '')})${when}.`;
}
$('resume-saved').addEventListener('click', () => {
  app.losses = 0;
  app.keepsRun = true;
  app.quick = false;
  resetRun();
  app.phase = 'training';
  app.failed = false;
  send({ type: 'resumeSaved' });
  status(`Resuming the saved run of ${modelName(pub.savedRun?.model_source || 'the model')}…`);
  refresh();
});
$('discard-saved').addEventListener('click', () => send({ type: 'discardSaved' }));

// ---------------------------------------------------------------- 5 Results

function showResults() {
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

function renderMisclassified(items) {
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
$('try-text').addEventListener('input', predict);

// Try it, for an image model: images dropped or picked are classified at once.
let tried = { files: [], urls: [] };
async function tryImages(files) {
  if (!files.length || !app.ready) return;
  const buffers = await Promise.all(files.map((f) => f.arrayBuffer()));
  for (const url of tried.urls) URL.revokeObjectURL(url);
  tried = { files, urls: files.map((f) => URL.createObjectURL(f)) };
  app.latest.predict = send({ type: 'predictImages', names: files.map((f) => f.name), files: buffers });
}
$('try-files').addEventListener('change', (e) => {
  tryImages([...e.target.files]);
  e.target.value = '';
});
dropZone($('try-drop'), (dt) => tryImages([...dt.files]));

/** Each image tried, with its top three classes. */
function renderImagePredictions(predictions) {
  $('try-output').replaceChildren(h('ul', { class: 'predictions' }, predictions.map((p, i) => {
    const top = Object.entries(p.probs || {}).sort((a, b) => b[1] - a[1]).slice(0, 3);
    return h('li', {}, tried.urls[i] && h('img', { class: 'thumb', src: tried.urls[i], alt: p.text }),
      h('div', {}, h('span', { class: 'name' }, p.text),
        top.length ? barList(top, { max: 1, text: pct, label: `Top predictions for ${p.text}`, className: 'probs' }) : h('p', {}, 'Prediction: ', h('b', {}, p.label))));
  })));
}

/** Top three classes with bars. `probs` is in labels order (an array) or keyed by label. */
function renderPrediction(p) {
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
function exportDone() {
  for (const b of [$('download-model'), $('download-merged'), $('download-checkpoint')]) {
    b.disabled = false;
    if (b.dataset.label) b.textContent = b.dataset.label;
  }
}
$('download-model').addEventListener('click', (e) => startExport('export', e.currentTarget));
$('download-merged').addEventListener('click', (e) => startExport('export', e.currentTarget, true));
$('download-checkpoint').addEventListener('click', (e) => startExport('exportCheckpoint', e.currentTarget));

// ---------------------------------------------------------------- errors and derived state

/** The banner's message list, built on first use and rebuilt if the banner was emptied from
 *  outside (the browser tests clear #error's text between cases). */
function errorList() {
  if (!$('error-list')) {
    $('error').replaceChildren(h('ul', { id: 'error-list' }),
      h('button', { type: 'button', id: 'error-close', class: 'icon-button close', 'aria-label': 'Dismiss', onclick: clearErrors }));
  }
  return $('error-list');
}
function showError(message, stage = 'page') {
  const list = errorList();
  if (list.lastElementChild?.textContent !== message) list.append(h('li', { 'data-stage': stage }, message));
  $('error').hidden = false;
}
/** Takes back the errors of a stage that has since succeeded (a setting fixed, a file replaced). */
function resolveErrors(stage) {
  const list = errorList();
  for (const li of list.querySelectorAll(`li[data-stage="${stage}"]`)) li.remove();
  $('error').hidden = !list.children.length;
}
function clearErrors() {
  errorList().replaceChildren();
  $('error').hidden = true;
}

// ---------------------------------------------------------------- 6 Add examples

async function setAddFile(file) {
  if (!file) return;
  app.addData = { name: file.name, bytes: await file.arrayBuffer() };
  $('add-name').textContent = `${file.name} · ${size(app.addData.bytes.byteLength)}`;
  refresh();
}

async function setAddFolder(folder) {
  const entries = await Promise.all(folder.files.map(async ([path, file]) => [path, await file.arrayBuffer()]));
  app.addData = { name: folder.name, entries };
  $('add-name').textContent = `${folder.name}/ · ${count(entries.length, 'file')}`;
  refresh();
}

dataInputs('add', setAddFile, setAddFolder, (e) => showError(e.message || String(e), 'data'));

/** Continues the page's model with the new examples: the form gives the data settings (columns,
 *  length, image fit, seed), the card its epochs and how many replay examples to mix in. */
function startPersonalize() {
  const config = readConfig();
  if (!config || !app.addData) return;
  const options = {};
  const epochs = Number($('add-epochs').value);
  if (epochs > 0) options.epochs = epochs;
  const quick = $('add-quick').checked;
  if (quick) options.head_only = true;
  // A few images cannot re-estimate batch norm's statistics: an image model keeps them.
  else if (app.formKind === 'image') options.freeze_bn = true;
  if ($('add-replay').value !== '') options.replay_size = Math.max(0, Math.round(Number($('add-replay').value)));
  clearErrors();
  resetRun();
  app.phase = 'training';
  app.failed = false;
  app.quick = false;
  app.keepsRun = false;
  app.personalizing = true;
  app.losses = 0;
  pub.personalized = null;
  pub.config = { ...config, ...options, personalize: true };
  $('add-status').textContent = 'Reading the new examples and the replay sample…';
  send({ type: 'personalize', ...dataFields(app.addData), config, options });
  refresh();
}
$('add-examples').addEventListener('click', startPersonalize);

/** The end of an "Add examples" run: the results say what it added. */
function personalized() {
  app.personalizing = false;
  const p = pub.personalized;
  if (!p) return;
  app.labels = [...p.old_classes, ...p.added];
  const added = p.added.length ? `Added ${count(p.added.length, 'class', 'classes')}: ${p.added.join(', ')}` : 'No new classes';
  $('added-summary').textContent = `${added} · ${count(p.new_examples, 'new example')} with ${count(p.replayed, 'replay example')} mixed in · ` +
    `the model now knows ${count(app.labels.length, 'class', 'classes')}.`;
  $('added-summary').hidden = false;
}

function computeState() {
  if (app.phase === 'training' || app.phase === 'paused') return app.phase;
  if (app.busy.size) return 'loading';
  if (app.failed) return 'error';
  if (app.phase === 'done') return 'done';
  return app.prepared ? 'ready' : 'idle';
}

/** Derives every control's state from `app`; cheap, so it runs after each message. */
function refresh() {
  const running = app.phase === 'training' || app.phase === 'paused';
  pub.state = computeState();
  document.body.dataset.state = pub.state;
  for (const id of ['model-fields', 'data-fields', 'settings-fields']) $(id).disabled = running;
  $('model-load').disabled = app.busy.has('download');
  if (!app.busy.has('download')) $('model-progress').hidden = !app.model;
  const fits = app.prepared?.memory?.fits !== false;
  $('train').disabled = running || !app.ready || !app.prepared || !fits || app.busy.size > 0;
  // The memory check is the form's run's: embedding and a head need far less.
  $('quick-train').disabled = running || !app.ready || !app.prepared || app.busy.size > 0;
  $('pause').disabled = app.phase !== 'training' || app.stopping;
  $('continue').disabled = app.phase !== 'paused' || app.stopping;
  $('stop').disabled = !running || app.stopping;
  $('try-text').disabled = running;
  $('try-files').disabled = running;
  $('demo').disabled = running || !app.ready || !app.defaults?.demo || app.busy.has('download');
  $('augment-preview-button').disabled = running || !app.ready || app.modelInfo?.kind !== 'image' || !app.preview?.images ||
    app.busy.size > 0 || app.latest.augment != null;
  $('train-hint').textContent = trainHint(running, fits);
  $('personalize-card').hidden = !app.hasModel && !app.personalizing;
  $('personalize-fields').disabled = running;
  $('add-examples').disabled = running || !app.ready || !app.hasModel || !app.addData || app.busy.size > 0;
  $('add-hint').textContent = running ? '' : !app.addData ? 'Choose the new examples first.' : `Ready: ${app.addData.name}.`;
}

function trainHint(running, fits) {
  if (running) return app.stopping ? 'Stopping…' : '';
  const loading = app.busy.has('download') || app.busy.has('model') || app.busy.has('init');
  if (!app.modelInfo && !app.preview) return loading ? 'Loading the model…' : 'Load a model and data first.';
  if (!app.modelInfo) return loading ? 'Loading the model…' : 'Load a model first.';
  if (!app.preview) return app.busy.has('data') ? 'Reading the data…' : 'Load a data file first.';
  if (app.busy.size) return 'Checking the data and settings…';
  if (!app.prepared) return app.failed ? 'Fix the problem above to continue.' : 'Fix the highlighted settings.';
  if (!fits) return 'Change the settings first: this run does not fit in memory.';
  const s = app.prepared.splits;
  const again = app.phase === 'done' ? 'Train again to start over. ' : '';
  const units = $('multi-label').checked && applies($('multi-label')) ? 'tags' : 'classes';
  return `${again}Ready: ${int(s.train)} training examples, ${app.prepared.labels.length} ${units}.`;
}

syncSwitches();
startWorker();
