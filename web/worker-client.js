// The page's side of the worker protocol (web/README.md has the table): `send` posts a request
// with a fresh id, `startWorker` starts (or restarts) the worker, `setBusy` marks requests in
// flight, and `handlers` turns each reply into the cards' state, then `refresh()`. The training
// events themselves are events.js's.

import { showDownloads } from './peft.js';
import { modelName } from './model-source.js';
import { $, h, params, int, count } from './ui.js';
import { app, pub } from './state.js';
import { onEvent, renderProgress } from './events.js';
import { status, sendModel } from './card-model.js';
import { sendData, clearData, setImages, renderImagePreview, renderPreview, renderDataReport, renderMemory } from './card-data.js';
import { fillSettings, schedulePrepare, renderBackend } from './card-settings.js';
import { startTraining, notice, showResumeBanner } from './card-train.js';
import { showResults, renderMisclassified, renderImagePredictions, renderPrediction, exportDone } from './card-results.js';
import { personalized } from './card-add.js';
import { showError, resolveErrors, refresh } from './errors.js';

// ---------------------------------------------------------------- worker

let nextId = 1;
/** Posts a message with a fresh id and returns the id. Buffers are copied, not transferred:
 *  the page keeps the model and data so a new worker (backend switch) can get them again. */
export function send(msg) {
  const id = nextId++;
  app.worker.postMessage({ ...msg, id });
  return id;
}

export function startWorker() {
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

export function setBusy(name, on) {
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
    // The model describes itself (`architecture` names the family and its size).
    const shape = i.kind === 'image' ? `${i.architecture}, ${i.image_size}×${i.image_size} input, ${(i.params / 1e6).toFixed(2)} M parameters`
      : `${i.architecture}, ${i.hidden_size} hidden, ${(i.params / 1e6).toFixed(1)} M parameters`;
    status(`${modelName(i.source)}${from} ready: ${shape}${tuned}`, true);
    // A model of the other kind: the form takes that kind's defaults (the same kind keeps edits).
    if (i.kind !== app.formKind) fillSettings(app.defaults?.[i.kind], i.kind);
    // A ViT reads one image size only (its position embeddings): the field shows it, locked.
    const size = $('image-size');
    size.disabled = Boolean(i.image_size_fixed);
    if (size.disabled) size.value = '';
    size.placeholder = i.image_size_fixed ? `${i.image_size} (this model's only size)` : "the model's own";
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
