// Card 1, Model: a model downloaded from a URL (with progress; model-source.js caches it), a
// local folder picked or dropped, or the demo's ("Try the demo", which also loads the demo's data
// and fills the settings). The files are kept in `app.model` and sent to the worker, again to a
// new one. `wireModelCard` attaches the card's controls (app.js calls it at start-up).

import { downloadModel, readPickedFolder, readDropped, modelName, clearModelCache } from './model-source.js';
import { $, params, mb, dropZone } from './ui.js';
import { app } from './state.js';
import { send, setBusy } from './worker-client.js';
import { setDataFile, dataFailed } from './card-data.js';
import { fillSettings } from './card-settings.js';
import { showError, clearErrors, refresh } from './errors.js';

// ---------------------------------------------------------------- 1 Model

export function status(text, ok = false) {
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

export function sendModel() {
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

/** Attaches the card's controls (and stops a file dropped beside a zone from opening). */
export function wireModelCard() {
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
  $('demo').addEventListener('click', startDemo);
  // A file dropped beside a zone would make the browser navigate away from the page.
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => e.preventDefault());
}
