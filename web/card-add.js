// Card 6, Add examples: new labelled examples (a table, or images) that continue the page's
// model (the worker's `personalize`), and what the results say once it has added them.

import { $, count, size } from './ui.js';
import { app, pub } from './state.js';
import { send } from './worker-client.js';
import { dataInputs, dataFields } from './card-data.js';
import { readConfig } from './card-settings.js';
import { resetRun } from './card-train.js';
import { showError, clearErrors, refresh } from './errors.js';

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

/** The end of an "Add examples" run: the results say what it added. */
export function personalized() {
  app.personalizing = false;
  const p = pub.personalized;
  if (!p) return;
  app.labels = [...p.old_classes, ...p.added];
  const added = p.added.length ? `Added ${count(p.added.length, 'class', 'classes')}: ${p.added.join(', ')}` : 'No new classes';
  $('added-summary').textContent = `${added} · ${count(p.new_examples, 'new example')} with ${count(p.replayed, 'replay example')} mixed in · ` +
    `the model now knows ${count(app.labels.length, 'class', 'classes')}.`;
  $('added-summary').hidden = false;
}

/** Attaches the card's inputs and its button. */
export function wireAddCard() {
  dataInputs('add', setAddFile, setAddFolder, (e) => showError(e.message || String(e), 'data'));
  $('add-examples').addEventListener('click', startPersonalize);
}
