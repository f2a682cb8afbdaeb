// The Web Worker that owns the wasm module: the page stays responsive while it trains.
// It speaks the message protocol app.js uses (see the table in web/README.md), drives the core's
// Trainer one awaited step at a time (so pause, stop and checkpoints happen between steps), and
// keeps the run in OPFS (data, settings, last and best checkpoints) so a reloaded tab, or a
// lost GPU, resumes where it was. A head-only run (Quick train) keeps instead its embeddings, in
// memory (the core's) and in OPFS, so training the head again on the same data skips embedding.

import init, { Session, zipFiles, unzipFiles, defaultConfig } from './pkg/edgetune.js';

const RUN = 'edgetune-run';
const EMBEDDINGS = 'edgetune-embeddings';
const KEEP_EMBEDDINGS = 8; // files kept in OPFS, the most recently written
let session = null;
let backend = null;
let data = null; // {name, bytes: Uint8Array} (a table or a zip), or {name, names, files} (a folder)
let modelSource = '';
let maxBufferMB;
const control = { paused: false, stop: false, wake: null };

const post = (msg, transfer) => self.postMessage(msg, transfer || []);
const errorText = (e) => (e && e.message) || String(e);

// ---- OPFS: the run directory --------------------------------------------------------------

async function runDir(create = true) {
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle(RUN, { create });
}

// createWritable writes to a swap file and commits on close: a crash leaves the old file.
async function writeFile(dir, name, bytes) {
  const handle = await dir.getFileHandle(name, { create: true });
  const w = await handle.createWritable();
  await w.write(bytes);
  await w.close();
}

async function readFile(dir, name) {
  const file = await (await dir.getFileHandle(name)).getFile();
  return new Uint8Array(await file.arrayBuffer());
}

async function readMeta() {
  try {
    const dir = await runDir(false);
    return JSON.parse(new TextDecoder().decode(await readFile(dir, 'meta.json')));
  } catch {
    return null;
  }
}

async function writeMeta(meta) {
  await writeFile(await runDir(), 'meta.json', new TextEncoder().encode(JSON.stringify(meta)));
}

// A checkpoint goes to a new directory; meta.json then points at it; the old one is removed.
// Whatever moment the tab dies, meta.json names a complete checkpoint.
async function saveCheckpoint(kind, files, meta) {
  const dir = await runDir();
  const name = `${kind}-${Date.now()}`;
  const sub = await dir.getDirectoryHandle(name, { create: true });
  for (const [file, bytes] of files) await writeFile(sub, file, bytes);
  const previous = meta[kind];
  meta[kind] = name;
  meta.saved_at = new Date().toISOString();
  await writeMeta(meta);
  if (previous) await dir.removeEntry(previous, { recursive: true }).catch(() => {});
}

async function readCheckpoint(name) {
  const sub = await (await runDir(false)).getDirectoryHandle(name);
  const names = [];
  const files = [];
  for await (const [file, handle] of sub.entries()) {
    if (handle.kind !== 'file') continue;
    names.push(file);
    files.push(new Uint8Array(await (await handle.getFile()).arrayBuffer()));
  }
  return { names, files };
}

async function savedRun() {
  const meta = await readMeta();
  if (!meta || meta.status !== 'running' || !meta.last) return null;
  return { data_name: meta.data_name, model_source: meta.model_source, step: meta.step, total_steps: meta.total_steps, saved_at: meta.saved_at };
}

// ---- OPFS: embeddings of the head-only fast path, one file per key (as the native cache) ----

async function embeddingsDir() {
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle(EMBEDDINGS, { create: true });
}

async function readEmbeddings(name) {
  try {
    return await readFile(await embeddingsDir(), name);
  } catch {
    return null; // none yet, or no OPFS here: embed
  }
}

async function keepEmbeddings(name, bytes) {
  const dir = await embeddingsDir();
  await writeFile(dir, name, bytes);
  const files = [];
  for await (const [file, handle] of dir.entries()) {
    if (handle.kind === 'file') files.push([file, (await handle.getFile()).lastModified]);
  }
  files.sort((a, b) => b[1] - a[1]);
  for (const [file] of files.slice(KEEP_EMBEDDINGS)) await dir.removeEntry(file).catch(() => {});
}

// ---- backend ------------------------------------------------------------------------------

async function startBackend(prefer) {
  await init();
  let notice = null;
  let adapter = 'CPU (wasm, SIMD128)';
  let limits = null;
  if (prefer !== 'cpu') {
    const gpu = self.navigator.gpu;
    const found = gpu ? await gpu.requestAdapter().catch(() => null) : null;
    if (!found) {
      notice = gpu
        ? 'WebGPU gave no adapter: training runs on the CPU (wasm), which is slower.'
        : 'WebGPU is not available in this browser: training runs on the CPU (wasm), which is slower.';
    } else {
      const info = found.info || {};
      adapter = info.description || [info.vendor, info.architecture, info.device].filter(Boolean).join(' ') || 'WebGPU adapter';
      limits = { maxStorageBufferBindingSize: found.limits.maxStorageBufferBindingSize, maxBufferSize: found.limits.maxBufferSize };
      try {
        session = await Session.create('webgpu');
        backend = 'webgpu';
      } catch (e) {
        notice = `WebGPU could not start (${errorText(e)}): training runs on the CPU (wasm), which is slower.`;
        limits = null;
        adapter = 'CPU (wasm, SIMD128)';
      }
    }
  }
  if (!session) {
    session = await Session.create('cpu');
    backend = 'cpu';
  }
  maxBufferMB = limits ? Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize) / (1024 * 1024) : undefined;
  // The settings each kind of model starts from, as the core defines them (the page's form).
  const defaults = Object.fromEntries(['text', 'image', 'demo'].map((k) => [k, defaultConfig(k)]));
  return { type: 'ready', backend, adapter, notice, limits, defaults, savedRun: await savedRun() };
}

// ---- training -----------------------------------------------------------------------------

// Keep a handle on the GPUDevice the core requests, to know when it is lost (`device.lost`) and
// so the tests can lose it on purpose ({type: 'debugLoseDevice'}) and check that the run resumes
// from its last checkpoint.
let gpuDevice = null;
let deviceLost = null; // the GPUDeviceLostInfo, once lost
if (self.GPUAdapter) {
  const request = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = async function (...args) {
    const device = await request.apply(this, args);
    gpuDevice = device;
    device.lost.then((info) => {
      if (device === gpuDevice) deviceLost = info;
    });
    return device;
  };
}

/** Whether the error `e` of a run comes from a lost GPU device: `device.lost` fired (it may come
 *  a moment after the failed read that shows it: a buffer that cannot be mapped), or cubecl says
 *  so (it marks a lost device poisoned and fails every later read with that reason). */
async function lostDevice(e) {
  if (backend !== 'webgpu') return false;
  if (!deviceLost && gpuDevice) await Promise.race([gpuDevice.lost, new Promise((r) => setTimeout(r, 2000))]);
  return deviceLost != null || /poison|device (was )?lost|DeviceLost|Destroyed/i.test(errorText(e));
}

/** The `lost` message for the page. */
function lostMessage(e) {
  const why = deviceLost?.message || errorText(e);
  return `The GPU device was lost${deviceLost?.reason ? ` (${deviceLost.reason})` : ''}: ${why}`;
}

/** Waits out a pause (posting `paused` / `continued`); true when stop was asked for. */
async function between(step) {
  if (control.paused) {
    post({ type: 'paused', step });
    await new Promise((resolve) => (control.wake = resolve));
    post({ type: 'continued' });
  }
  return control.stop;
}

const event = (ev) => post({ type: 'event', event: ev });
// A head on cached features takes hundreds of steps a second: the page gets a step event at most
// this often (and at each epoch's end), not one per step.
const STEP_EVENT_MS = 50;
// ... and, not checkpointing, it steps for up to this long per call into the core.
const STEP_BUDGET_MS = 25;

/** The fast path's features, by the core's rules (crate/src/train/fast_features.rs, which the
 *  native runner follows too): this page's memory, else the OPFS file, else embedded here one
 *  batch at a time and kept in OPFS. The core makes the `embedding` and `embedded` events; this
 *  only moves the bytes. False when stop was pressed before they were ready. */
async function fastFeatures() {
  const k = await session.featureKey();
  if (k.event) return event(k.event), true;
  const offered = session.useFeatureFile(await readEmbeddings(k.file));
  if (offered.event) return event(offered.event), true;
  for (let done = 0; ;) {
    if (await between(done)) return false;
    const r = await session.embedStep();
    event(r.event);
    done = r.event.embedded;
    if (r.finished) break;
  }
  // Embeddings that cannot be kept cost the next run time, not this one its result.
  const failed = await keepEmbeddings(k.file, session.featureFile()).then(() => null, (e) => errorText(e));
  event(session.embeddingsKept(failed));
  return true;
}

/** Steps a run to its end. With `meta` the run is kept in OPFS, its checkpoints written when
 *  the core says they are due (`r.save`: the rule the native runner follows too, see
 *  crate/src/train/driver.rs); without (a head-only run, which takes seconds once embedded)
 *  nothing is saved but the embeddings. */
async function trainLoop(start, meta) {
  event(start);
  let step = start.resumed_at_step || 0;
  let posted = -Infinity;
  if (meta) meta.total_steps = start.total_steps;
  for (;;) {
    if (await between(step)) session.stop();
    const r = await session.step(meta ? undefined : STEP_BUDGET_MS);
    step = r.global_step;
    if (r.step && (r.epoch_end || r.finished || performance.now() - posted >= STEP_EVENT_MS)) {
      event(r.step);
      posted = performance.now();
    }
    if (r.epoch) event(r.epoch);
    if (meta) {
      meta.step = step;
      if (r.save.best) await saveCheckpoint('best', await session.checkpoint(false), meta);
      if (r.save.last) {
        await saveCheckpoint('last', await session.checkpoint(true), meta);
        post({ type: 'checkpoint', step: meta.step, saved_at: meta.saved_at });
      }
    }
    if (r.finished) break;
  }
  const out = await session.finish();
  if (meta) {
    meta.status = 'done';
    await writeMeta(meta);
  }
  trainedLora = out.lora;
  event(out.done);
  post({ type: 'trained', kind: out.kind, lora: out.lora, fast: out.fast, misclassified: out.misclassified, test: out.done.test, valid: out.done.valid });
}

let trainedLora = false;

/** A new run: `quick` is "Quick train (head only)"; a head-only run takes the fast path. */
async function train(config, quick) {
  if (!data) throw new Error('load a data file first');
  control.paused = false;
  control.stop = false;
  const { start, fast } = session.startTraining(config, quick);
  await run(start, fast, config, true);
}

/** Runs a started run to its end: the fast path's features first, or (`keep`) the run kept in
 *  OPFS for resuming. */
async function run(start, fast, config, keep) {
  try {
    if (fast) {
      // The saved run (if any) stays resumable: a head-only run is not kept in OPFS.
      if (await fastFeatures()) await trainLoop(start, null);
      else {
        session.abandon();
        post({ type: 'cancelled', message: 'Stopped before the head trained: nothing was trained.' });
      }
      return;
    }
    if (!keep) return await trainLoop(start, null);
    // A new run replaces the saved one: its data and settings go to OPFS first. A folder of
    // images is kept as one zip of the same paths, which the core reads back as the same data.
    const root = await navigator.storage.getDirectory();
    await root.removeEntry(RUN, { recursive: true }).catch(() => {});
    const dir = await runDir();
    const kept = data.files ? { name: `${data.name}.zip`, bytes: zipFiles(data.names, data.files) } : data;
    await writeFile(dir, 'data.bin', kept.bytes);
    const meta = { status: 'running', config, data_name: kept.name, model_source: modelSource, step: 0, last: null, best: null };
    await writeMeta(meta);
    await trainLoop(start, meta);
  } catch (e) {
    await runFailed(e);
  }
}

/** A run threw: it is dropped (the next run can start); a lost GPU device becomes the `lost`
 *  message (the page then resumes in a new worker), anything else is rethrown. */
async function runFailed(e) {
  session.abandon();
  if (!(await lostDevice(e))) throw e;
  post({ type: 'lost', message: lostMessage(e) });
}

/** "Add examples": continues the page's model with new examples (a table, or images as a zip or
 *  a folder, zipped here) and its replay sample. The run takes seconds to minutes and its data
 *  is made in the core, so it is not kept in OPFS; the saved run (if any) stays resumable. */
async function personalize(m) {
  const source = m.files
    ? { name: `${m.name}.zip`, bytes: zipFiles(m.names, m.files.map((b) => new Uint8Array(b))) }
    : { name: m.name, bytes: new Uint8Array(m.bytes) };
  control.paused = false;
  control.stop = false;
  const r = await session.startPersonalize(m.config || {}, source.name, source.bytes, m.options || {});
  post({ type: 'personalizing', added: r.added, replayed: r.replayed, old_classes: r.old_classes, new_examples: r.new_examples, relabelled: r.relabelled, reports: r.reports, warning: r.warning });
  await run(r.start, r.fast, { ...(m.config || {}), ...(m.options || {}) }, false);
}

async function resumeSaved() {
  const meta = await readMeta();
  if (!meta || !meta.last) throw new Error('there is no saved run to resume');
  const dir = await runDir(false);
  const bytes = await readFile(dir, 'data.bin');
  const last = await readCheckpoint(meta.last);
  const best = meta.best ? await readCheckpoint(meta.best) : { names: [], files: [] };
  const start = session.resumeTraining(meta.config, meta.data_name, bytes, last.names, last.files, best.names, best.files);
  data = { name: meta.data_name, bytes };
  modelSource = meta.model_source;
  post({ type: 'log', message: `resumed from step ${start.resumed_at_step} of ${start.total_steps}` });
  control.paused = false;
  control.stop = false;
  try {
    await trainLoop(start, meta);
  } catch (e) {
    await runFailed(e);
  }
}

// ---- messages -----------------------------------------------------------------------------

const handlers = {
  async init(m) {
    return startBackend(m.prefer || 'auto');
  },
  async model(m) {
    const names = Object.keys(m.files);
    const info = session.loadModel(m.source, names, names.map((n) => new Uint8Array(m.files[n])));
    modelSource = m.source;
    trainedLora = false;
    return { type: 'model', info };
  },
  async data(m) {
    const bytes = new Uint8Array(m.bytes);
    const preview = session.loadData(m.name, bytes, m.text_column || undefined, m.label_column || undefined);
    data = { name: m.name, bytes };
    if (!preview.images) return { type: 'data', preview };
    // A zip of images: the page gets its files back, to show them as thumbnails.
    const images = unzipFiles(m.name, bytes).map(([name, b]) => [name, b.buffer]);
    return { type: 'data', preview, images };
  },
  async images(m) {
    const files = m.files.map((b) => new Uint8Array(b));
    const preview = session.loadImages(m.name, m.names, files);
    data = { name: m.name, names: m.names, files };
    return { type: 'data', preview };
  },
  async previewAugment(m) {
    const png = session.previewAugment(m.config || {});
    return { type: 'augmentPreview', bytes: png.buffer };
  },
  async prepare(m) {
    const out = session.prepare(m.config || {}, maxBufferMB, undefined);
    return { type: 'prepared', ...out };
  },
  async train(m) {
    await train(m.config || {}, Boolean(m.quick));
  },
  async personalize(m) {
    await personalize(m);
  },
  async resumeSaved() {
    await resumeSaved();
  },
  async discardSaved() {
    const root = await navigator.storage.getDirectory();
    await root.removeEntry(RUN, { recursive: true }).catch(() => {});
    return { type: 'discarded' };
  },
  async predict(m) {
    const preds = await session.predict(m.texts, undefined);
    // probs stay keyed by label: right whatever model (fine-tuned, trained, resumed) is loaded.
    // Multi-label predictions also carry the tags that reach the threshold.
    const predictions = preds.map((p) => ({ text: p.text, label: p.label, probs: p.probs, tags: p.tags, threshold: p.threshold }));
    return { type: 'predictions', predictions };
  },
  async predictImages(m) {
    const preds = await session.predictImages(m.names, m.files.map((b) => new Uint8Array(b)));
    const predictions = preds.map((p) => ({ text: p.text, label: p.label, probs: p.probs, tags: p.tags, threshold: p.threshold }));
    return { type: 'predictions', images: true, predictions };
  },
  async export(m) {
    // A LoRA model: its PEFT adapter, or (merge) the adapters folded into a full model.
    const zip = await session.exportZip(Boolean(m.merge));
    const name = m.merge ? 'edgetune-merged-model.zip' : trainedLora ? 'edgetune-lora-adapter.zip' : 'edgetune-model.zip';
    return { type: 'exported', name, bytes: zip.buffer };
  },
  async exportCheckpoint() {
    const meta = await readMeta();
    if (!meta || !meta.last) throw new Error('no checkpoint has been saved yet');
    const { names, files } = await readCheckpoint(meta.last);
    return { type: 'exported', name: 'edgetune-checkpoint.zip', bytes: zipFiles(names, files).buffer };
  },
};

const stageOf = {
  init: 'init', model: 'model', data: 'data', images: 'data', prepare: 'prepare', train: 'train', personalize: 'train', resumeSaved: 'resume',
  predict: 'predict', predictImages: 'predict', previewAugment: 'augment', export: 'export', exportCheckpoint: 'export', discardSaved: 'resume',
};

// Requests run one at a time, in order; pause / continue / stop act at once (between steps).
let queue = Promise.resolve();
self.onmessage = (event) => {
  const m = event.data;
  if (m.type === 'pause') {
    control.paused = true;
    return;
  }
  if (m.type === 'continue') {
    control.paused = false;
    if (control.wake) control.wake();
    control.wake = null;
    return;
  }
  if (m.type === 'debugLoseDevice') {
    if (gpuDevice) gpuDevice.destroy();
    return;
  }
  if (m.type === 'stop') {
    control.stop = true;
    control.paused = false;
    if (control.wake) control.wake();
    return;
  }
  const handler = handlers[m.type];
  if (!handler) {
    post({ type: 'error', id: m.id, stage: 'init', message: `unknown request '${m.type}'` });
    return;
  }
  queue = queue.then(async () => {
    try {
      const reply = await handler(m);
      // Bytes made here (exports, previews, a zip's images) move to the page without a copy.
      const moved = reply?.bytes ? [reply.bytes] : Array.isArray(reply?.images) ? reply.images.map(([, b]) => b) : [];
      if (reply) post({ ...reply, id: m.id }, moved);
    } catch (e) {
      post({ type: 'error', id: m.id, stage: stageOf[m.type], message: errorText(e) });
    }
  });
};
