// The training events the worker relays (`event` messages: start, step, epoch, done, skipped,
// and the fast path's embedding and embedded): each updates the charts, the progress bar and its
// line. Step events are painted once per frame at most.

import { embeddingText, embeddedText } from './peft.js';
import { $, int, count, pct, clock } from './ui.js';
import { app, pub, lossChart, metricChart } from './state.js';
import { notice } from './card-train.js';
import { showResults } from './card-results.js';

// ---------------------------------------------------------------- training events

export const onEvent = {
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

export function renderProgress() {
  const s = app.run?.step;
  if (!s) return;
  $('progress').max = s.total_steps;
  $('progress').value = s.step;
  const epochs = app.run.epochs ? ` / ${app.run.epochs}` : '';
  const state = app.phase === 'paused' ? ' · paused' : app.phase === 'done' ? ' · done' : '';
  $('progress-text').textContent = `step ${s.step} / ${s.total_steps} · epoch ${s.epoch}${epochs} · ` +
    `${(s.samples_per_s ?? 0).toFixed(1)} samples/s · ETA ${clock(s.eta_s)}${state}`;
}
