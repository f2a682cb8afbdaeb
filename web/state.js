// The page's state: `app` (everything the worker has sent and the page has loaded; `refresh()` in
// errors.js derives the controls from it), `pub` (`window.edgetune`, read by the browser tests)
// and the three charts of the Train and Results cards. State that more than one module changes
// lives in these objects (an imported `let` cannot be reassigned); a module's own variables (a
// request counter, a pending animation frame) stay private to it.

import { LineChart, ConfusionChart } from './charts.js';
import { $, params } from './ui.js';

// ---------------------------------------------------------------- state

export const app = {
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
export const pub = (window.edgetune = {
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

export const lossChart = new LineChart($('loss-chart'), {
  label: 'Loss', xLabel: 'step', yMin: 0, xInteger: true, empty: 'The loss appears here during training',
  series: [
    { name: 'training loss', color: '#1d5fd1' },
    { name: 'validation loss', color: '#d9480f', markers: true, dash: [5, 4] },
  ],
});
export const metricChart = new LineChart($('metric-chart'), {
  label: 'Validation metrics', xLabel: 'epoch', yMin: 0, yMax: 1, xInteger: true, xMin: 0,
  empty: 'Validation scores appear after each epoch',
  series: [
    { name: 'accuracy', color: '#157f3b', markers: true },
    { name: 'macro F1', color: '#7a3bd1', markers: true, dash: [5, 4] },
  ],
});
export const confusion = new ConfusionChart($('confusion'), $('confusion-tip'));
