// Card 3, Settings: the form read as a TrainConfig (`readConfig`) and filled from the core's
// defaults for a kind of model (`fillSettings`), the settings shown for text or image models, the
// switches that go together (with peft.js), the augmentation preview, the compute backend, and
// `schedulePrepare`: the worker checks the data again for the settings as they are edited.

import { NO_AUGMENT, loraOn, syncTraining } from './peft.js';
import { $, h, debounce } from './ui.js';
import { app } from './state.js';
import { send, setBusy, startWorker } from './worker-client.js';
import { refresh } from './errors.js';

// ---------------------------------------------------------------- 3 Settings

const NULLABLE = new Set(['max_grad_norm', 'head_lr', 'dropout', 'image_fit', 'image_size', 'max_memory_mb']);
const INTEGER = new Set(['batch_size', 'max_length', 'freeze_layers', 'grad_accum', 'patience', 'seed', 'checkpoint_every', 'augment.crop_padding', 'lora.r', 'image_size']);

/** Whether a setting applies to the model's kind: the other kind's are hidden and not sent (the
 *  core lays what is sent over its defaults for the kind). */
export const applies = (el) => !el.closest('.text-only, .image-only')?.hidden;
/** The augmentation switch (checkbox) of an amount field, if it has one. */
const switchOf = (el) => (el.dataset.switch ? $(el.dataset.switch) : null);

/** The TrainConfig the form describes (snake_case keys, as crate/src/train/config.rs; `a.b`
 *  names fill nested tables, like `augment`), or null while a field is invalid (that field is
 *  marked). Empty optional fields are sent as null; a switched-off augmentation as 0. */
export function readConfig() {
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
 *  `checkpoint_every`, which the user's choice keeps across kinds) and shows the settings of
 *  `kind`. */
export function fillSettings(config, kind) {
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
export function syncSwitches() {
  for (const el of document.querySelectorAll('input[data-switch]')) {
    el.disabled = !switchOf(el).checked;
    if (el.disabled) el.removeAttribute('aria-invalid');
  }
  syncTraining(app.formKind);
}

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
export const schedulePrepare = debounce(prepare, 300);

export function renderBackend(m) {
  const name = m.backend === 'webgpu' ? 'WebGPU' : 'CPU (wasm)';
  const limit = m.limits?.maxStorageBufferBindingSize;
  const parts = [h('div', {}, h('span', { class: 'backend-name' }, `${name} — ${m.adapter}`),
    limit && h('span', { class: 'small muted' }, ` · buffers up to ${Math.round(limit / 1048576)} MB`))];
  if (m.notice) parts.push(h('span', { class: 'notice' }, m.notice));
  $('backend-info').replaceChildren(...parts);
}

/** Attaches the augmentation preview, the form's edits and the backend choice. */
export function wireSettingsCard() {
  $('augment-preview-button').addEventListener('click', () => {
    const config = readConfig();
    if (!config || !app.ready) return;
    app.latest.augment = send({ type: 'previewAugment', config });
    refresh();
  });

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
}
