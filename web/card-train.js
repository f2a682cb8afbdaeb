// Card 4, Train: starting a run (Train, Quick train) with the form's settings, pause, continue
// and stop, the notice line, and the banner that offers to resume (or discard) a run saved in
// OPFS. The progress itself is events.js's.

import { modelName } from './model-source.js';
import { $ } from './ui.js';
import { app, pub, lossChart, metricChart } from './state.js';
import { send } from './worker-client.js';
import { status } from './card-model.js';
import { readConfig } from './card-settings.js';
import { clearErrors, refresh } from './errors.js';

// ---------------------------------------------------------------- 4 Train

/** Starts a run with the form's settings; `quick`: Quick train (head only), the core's fast-path
 *  settings for the same data. */
export function startTraining(quick = false) {
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
export function resetRun() {
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

export function notice(text) {
  $('train-notice').textContent = text;
  $('train-notice').hidden = false;
}

export function showResumeBanner(saved) {
  $('resume-banner').hidden = !saved;
  if (!saved) return;
  const when = saved.saved_at ? `, saved ${new Date(saved.saved_at).toLocaleString()}` : '';
  $('resume-text').textContent = `An unfinished run was found: step ${saved.step} of ${saved.total_steps} on ${saved.data_name}` +
    ` (${modelName(saved.model_source || '')})${when}.`;
}

/** Attaches the run's buttons and the resume banner's. */
export function wireTrainCard() {
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
}
