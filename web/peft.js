// The page's parameter-efficient options: the LoRA switch (text models; rank and alpha among the
// advanced settings), "Train the head only", and what Quick train shows while it embeds. app.js
// calls these; what each setting means is the core's (crate/src/train/config.rs).

const $ = (id) => document.getElementById(id);
const int = (n) => Number(n).toLocaleString('en-US');

/** What a head-only image run sends for `augment`: each image is embedded once, as it is. */
export const NO_AUGMENT = { crop_padding: 0, hflip: false, rotation_deg: 0, scale: 0, brightness: 0, contrast: 0, noise_std: 0 };

/** Whether the LoRA switch is on (it is off and disabled for image models). */
export const loraOn = () => $('lora-on').checked && !$('lora-on').disabled;

const LORA_NOTE = {
  text: 'The encoder stays frozen; small adapters on its attention layers train (rank and alpha: advanced settings). The download is a PEFT adapter, or a merged model.',
  image: 'LoRA is for text models. For an image model, train the whole model, or use Quick train.',
};

/** Enables the settings that apply together, for a model of `kind`:
 *  - LoRA is for text models, and freezes the whole encoder itself, so head-only and the
 *    freezing settings do not apply beside it (the core refuses the mix);
 *  - head-only on an image model embeds each image once, so augmentation does not apply.
 *  Call after app.js's syncSwitches (the augmentation amounts' own switches). */
export function syncTraining(kind) {
  const text = kind !== 'image';
  const on = $('lora-on');
  on.disabled = !text;
  if (!text) on.checked = false;
  $('lora-note').textContent = LORA_NOTE[text ? 'text' : 'image'];
  const lora = loraOn();
  for (const el of document.querySelectorAll('[data-lora]')) {
    el.disabled = !lora;
    if (!lora) el.removeAttribute('aria-invalid');
  }
  for (const id of ['head-only', 'freeze-embeddings']) {
    if (lora) $(id).checked = false;
    $(id).disabled = lora;
  }
  if (lora) $('freeze-layers').value = '0';
  $('freeze-layers').disabled = lora;
  const frozen = !text && $('head-only').checked;
  $('augment-head-only').hidden = !frozen;
  for (const el of document.querySelectorAll('#image-settings .augment input')) {
    const amountOff = el.dataset.switch ? !$(el.dataset.switch).checked : false;
    el.disabled = frozen || amountOff;
  }
}

const noun = (kind) => (kind === 'image' ? 'images' : 'texts');

/** The progress line while the frozen model embeds the data. */
export function embeddingText(ev, kind) {
  return `Embedding ${int(ev.embedded)} / ${int(ev.total)} ${noun(kind)} with the frozen model…`;
}

/** What the `embedded` event says: computed (and kept) or found, and where. */
export function embeddedText(ev, kind) {
  const s = `${ev.elapsed_s.toFixed(ev.elapsed_s < 1 ? 2 : 1)} s`;
  const where = ev.cache_path === 'memory' ? 'this page\'s memory' : 'the browser\'s storage (OPFS)';
  const what = ev.cache === 'hit'
    ? `${int(ev.rows)} ${noun(kind)}: embeddings reused from ${where} in ${s}`
    : `${int(ev.rows)} ${noun(kind)} embedded in ${s} (${ev.dim}-wide vectors), kept for the next quick train`;
  const augment = kind === 'image' ? ' Augmentation does not apply: each image is embedded once, as it is.' : '';
  return `${what}.${augment}${ev.warning ? ` Note: ${ev.warning}.` : ''}`;
}

/** The Results card's downloads after a run: a LoRA model offers its adapter and a merged model;
 *  a head-only run keeps no checkpoint. */
export function showDownloads({ lora, fast }) {
  $('download-model').textContent = lora ? 'Download the LoRA adapter (PEFT)' : 'Download the model';
  delete $('download-model').dataset.label;
  $('download-merged').hidden = !lora;
  $('download-note').hidden = !lora;
  $('download-checkpoint').hidden = Boolean(fast);
}
