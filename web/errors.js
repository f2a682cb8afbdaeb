// Errors and derived state: the error banner (`showError`, taken back by `resolveErrors` once
// the stage succeeds, `clearErrors`), and `refresh()`, which derives `window.edgetune.state`, every
// control's enabled state and the Train card's hint from `app` after each message and action.

import { $, h, int } from './ui.js';
import { app, pub } from './state.js';
import { applies } from './card-settings.js';

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
export function showError(message, stage = 'page') {
  const list = errorList();
  if (list.lastElementChild?.textContent !== message) list.append(h('li', { 'data-stage': stage }, message));
  $('error').hidden = false;
}
/** Takes back the errors of a stage that has since succeeded (a setting fixed, a file replaced). */
export function resolveErrors(stage) {
  const list = errorList();
  for (const li of list.querySelectorAll(`li[data-stage="${stage}"]`)) li.remove();
  $('error').hidden = !list.children.length;
}
export function clearErrors() {
  errorList().replaceChildren();
  $('error').hidden = true;
}

// ---------------------------------------------------------------- derived state

function computeState() {
  if (app.phase === 'training' || app.phase === 'paused') return app.phase;
  if (app.busy.size) return 'loading';
  if (app.failed) return 'error';
  if (app.phase === 'done') return 'done';
  return app.prepared ? 'ready' : 'idle';
}

/** Derives every control's state from `app`; cheap, so it runs after each message. */
export function refresh() {
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
