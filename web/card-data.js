// Card 2, Data: a table (CSV, TSV, JSONL) or a zip of class folders as one file, or a folder of
// class folders, picked or dropped; its preview (rows and column choices, or classes with
// thumbnails) and the data check the worker's `prepared` reply carries (with the memory check).
// The page keeps every image as a Blob for the thumbnails. `dataInputs` and `dataFields` serve
// card 6 too.

import { barList } from './charts.js';
import { imageKey, readPickedImages, readDroppedData } from './data-source.js';
import { $, h, int, count, size, lineList, dropZone } from './ui.js';
import { app } from './state.js';
import { send, setBusy } from './worker-client.js';
import { showError, clearErrors, refresh } from './errors.js';

// ---------------------------------------------------------------- 2 Data

async function loadDataFile(file) {
  if (!file) return;
  clearErrors();
  setDataFile(file.name, await file.arrayBuffer());
}

/** A table, or a zip of class folders, as one file's bytes. */
export function setDataFile(name, bytes) {
  app.data = { name, bytes };
  app.columns = null;
  setImages([]); // a zip's images come back from the worker
  $('data-name').textContent = `${name} · ${size(bytes.byteLength)}`;
  sendData();
  refresh();
}

/** A folder of class folders: every file's bytes go to the worker, the Files stay here as the
 *  Blobs of thumbnails. */
async function loadImageFolder(folder) {
  clearErrors();
  const entries = await Promise.all(folder.files.map(async ([path, file]) => [path, await file.arrayBuffer()]));
  app.data = { name: folder.name, entries };
  app.columns = null;
  setImages(folder.files);
  const bytes = entries.reduce((n, [, b]) => n + b.byteLength, 0);
  $('data-name').textContent = `${folder.name}/ · ${count(entries.length, 'file')} · ${size(bytes)}`;
  sendData();
  refresh();
}

export function dataFailed(e) {
  showError(e.message || String(e), 'data');
  app.failed = true;
  app.demo = false;
  refresh();
}

export function sendData() {
  app.prepared = null;
  if (!app.ready) return; // the `ready` handler sends it
  setBusy('data', true);
  const msg = { type: app.data.entries ? 'images' : 'data', ...dataFields(app.data) };
  if (app.columns) Object.assign(msg, { text_column: app.columns.text, label_column: app.columns.label });
  app.latest.data = send(msg);
}

export function clearData() {
  app.preview = null;
  $('data-preview').hidden = true;
  $('data-preview').replaceChildren();
  $('image-preview').hidden = true;
  $('image-preview').replaceChildren();
  $('data-columns').hidden = false;
  $('data-report').replaceChildren();
  for (const id of ['text-column', 'label-column']) Object.assign($(id), { disabled: true }).replaceChildren();
}

/** Wires `${prefix}-file`, `${prefix}-folder` and the drop zone `${prefix}-drop`: a picked or
 *  dropped file goes to `onFile`, a folder of images to `onFolder`, a failure to `failed`. */
export function dataInputs(prefix, onFile, onFolder, failed) {
  $(`${prefix}-file`).addEventListener('change', (e) => {
    onFile(e.target.files[0]).catch(failed);
    e.target.value = '';
  });
  $(`${prefix}-folder`).addEventListener('change', (e) => {
    if (e.target.files.length) onFolder(readPickedImages(e.target.files)).catch(failed);
    e.target.value = '';
  });
  dropZone($(`${prefix}-drop`), (dt) => {
    const reading = readDroppedData(dt); // must start inside the drop event
    reading.then((got) => (got.file ? onFile(got.file) : onFolder(got.folder))).catch(failed);
  });
}

/** What the worker is sent for data held as `{ name, bytes }` (a file) or `{ name, entries }`
 *  (a folder's files). */
export function dataFields(d) {
  return d.entries
    ? { name: d.name, names: d.entries.map(([n]) => n), files: d.entries.map(([, b]) => b) }
    : { name: d.name, bytes: d.bytes };
}

/** Replaces the page's images (name → Blob), releasing the object URLs of the old ones. */
export function setImages(pairs) {
  for (const url of app.imageUrls.values()) URL.revokeObjectURL(url);
  app.imageUrls.clear();
  app.images = new Map(pairs.map(([name, blob]) => [imageKey(name), blob]));
}

/** A thumbnail of the image the core calls `name`, or a placeholder when the page does not hold
 *  it (a run resumed after a reload). */
export function thumb(name) {
  const key = imageKey(name);
  const blob = app.images.get(key);
  if (!blob) return h('span', { class: 'thumb missing', title: name, 'aria-hidden': 'true' }, '?');
  if (!app.imageUrls.has(key)) app.imageUrls.set(key, URL.createObjectURL(blob));
  return h('img', { class: 'thumb', src: app.imageUrls.get(key), alt: name, title: name, decoding: 'async' });
}

/** An image collection: its classes, each with its count and a few thumbnails. */
export function renderImagePreview() {
  const p = app.preview;
  $('data-preview').hidden = true;
  $('data-columns').hidden = true;
  for (const id of ['text-column', 'label-column']) Object.assign($(id), { disabled: true }).replaceChildren();
  const left = p.skipped.length ? ` · ${count(p.skipped.length, 'file')} left out (the data check below says why)` : '';
  const rows = p.classes.map((c) => h('div', { class: 'class-row' },
    h('div', { class: 'class-name' }, h('b', { title: c.label }, c.label), h('span', { class: 'small muted' }, count(c.count, 'image'))),
    h('div', { class: 'thumbs' }, c.samples.map((name) => thumb(name)))));
  $('image-preview').replaceChildren(h('p', { class: 'small muted' }, `${count(p.total, 'image')} in ${count(p.classes.length, 'class', 'classes')}${left}`), ...rows);
  $('image-preview').hidden = false;
}

export function renderPreview() {
  const p = app.preview;
  $('image-preview').hidden = true;
  $('data-columns').hidden = false;
  for (const [id, chosen] of [['text-column', p.text_column], ['label-column', p.label_column]]) {
    $(id).replaceChildren(...p.columns.map((c) => h('option', { value: c, selected: c === chosen }, c)));
    $(id).disabled = false;
  }
  const role = (c) => (c === p.text_column ? 'col-text' : c === p.label_column ? 'col-label' : null);
  const head = h('tr', {}, p.columns.map((c) => h('th', { class: role(c), scope: 'col' }, c,
    c === p.text_column && h('span', { class: 'tag' }, 'text'), c === p.label_column && h('span', { class: 'tag' }, 'label'))));
  const body = document.createDocumentFragment();
  for (const row of p.rows) {
    body.append(h('tr', {}, p.columns.map((c, i) => h('td', { class: role(c), title: row[i]?.length > 60 ? row[i] : null }, row[i] ?? ''))));
  }
  const caption = `First ${p.rows.length} of ${int(p.total_rows)} rows · ${String(p.format).toUpperCase()}`;
  $('data-preview').replaceChildren(h('table', {}, h('caption', {}, caption), h('thead', {}, head), h('tbody', {}, body)));
  $('data-preview').hidden = false;
}

export function renderDataReport(m) {
  const blocks = m.reports.map((r, i) => {
    const classes = r.classes || [];
    const most = Math.max(1, ...classes.map(([, n]) => n));
    const shown = classes.length > 40 ? [...classes].sort((a, b) => b[1] - a[1]).slice(0, 40) : classes;
    const [unit, units] = r.multi_label ? ['tag', 'tags'] : ['class', 'classes'];
    // An image collection names files (left out, duplicate, conflicting) where a table has lines.
    const issues = r.images ? imageIssues(r) : [];
    if (r.duplicates_removed && !r.images) issues.push(`${count(r.duplicates_removed, 'duplicate row')} removed${lineList(r.duplicate_lines, r.duplicates_removed)}`);
    if (r.empty_text) issues.push(`${count(r.empty_text, 'row')} with an empty text dropped${lineList(r.empty_text_lines, r.empty_text)}`);
    if (r.missing_label) issues.push(`${count(r.missing_label, 'row')} without a label dropped${lineList(r.missing_label_lines, r.missing_label)}`);
    if (r.too_long) issues.push(`${count(r.too_long, 'text is', 'texts are')} longer than ${r.max_length} tokens and will be cut to fit`);
    const rare = classes.filter(([, n]) => n < 3).map(([l]) => l);
    if (rare.length) issues.push(`${r.multi_label ? 'Tags' : 'Classes'} with fewer than 3 examples (too few to validate on): ${rare.slice(0, 8).join(', ')}${rare.length > 8 ? ', …' : ''}`);
    if (r.conflicts?.length && !r.images) {
      issues.push([`${count(r.conflicts.length, 'text appears', 'texts appear')} with different labels (kept; they are often labelling mistakes):`,
        h('ul', {}, r.conflicts.slice(0, 5).map((c) => h('li', {},
          `“${c.text.length > 80 ? c.text.slice(0, 79) + '…' : c.text}”: ${c.labels.join(' / ')}${lineList(c.lines.slice(0, 5), c.lines.length)}`)))]);
    }
    const splits = i === 0 && m.splits
      ? h('p', { class: 'splits' }, `Split: ${int(m.splits.train)} train · ${int(m.splits.valid)} validation · ${int(m.splits.test)} test`) : null;
    return h('div', { class: 'report' },
      h('h3', {}, `Data check: ${r.source}`),
      h('p', {}, `${count(r.rows, r.images ? 'file' : 'row')} read, ${int(r.kept)} ${r.images ? 'images ' : ''}kept, ${count(classes.length, unit, units)}` +
        (r.multi_label ? ` (${r.tags_per_row.toFixed(2)} per row, ${int(r.tag_sets)} distinct sets).` : '.')),
      splits,
      barList(shown, { max: most, text: int, label: `Examples per ${unit}` }),
      shown.length < classes.length && h('p', { class: 'small muted' }, `The 40 largest of ${classes.length} ${units} are shown.`),
      h('ul', { class: 'issues' }, issues.length ? issues.map((t) => h('li', {}, t)) : h('li', { class: 'muted' }, 'No problems found.')));
  });
  $('data-report').replaceChildren(...blocks);
}

/** What an image collection's report lists: every file left out and why (the first ten shown),
 *  duplicates removed, identical images under two labels. */
function imageIssues(r) {
  const issues = [];
  const skipped = r.skipped || [];
  if (skipped.length) {
    issues.push([`${count(skipped.length, 'file')} left out:`, h('ul', {}, skipped.slice(0, 10).map((f) => h('li', {}, `${f.name}: ${f.why}`)),
      skipped.length > 10 && h('li', { class: 'muted' }, `… and ${int(skipped.length - 10)} more`))]);
  }
  if (r.duplicates_removed) {
    const names = r.duplicate_names || [];
    const list = names.length ? ` (${names.join(', ')}${r.duplicates_removed > names.length ? ', …' : ''})` : '';
    issues.push(`${count(r.duplicates_removed, 'duplicate image')} removed: same pixels and label as another${list}`);
  }
  if (r.conflicts?.length) {
    issues.push([`${count(r.conflicts.length, 'image appears', 'images appear')} under different labels (kept; check them):`,
      h('ul', {}, r.conflicts.slice(0, 5).map((c) => h('li', {}, `${c.text}: ${c.labels.join(' / ')}`)))]);
  }
  return issues;
}

/** Says why Train is disabled when the run would not fit (the advice names the numbers). */
export function renderMemory(memory) {
  const box = $('memory');
  box.hidden = !memory || (memory.fits && !memory.advice);
  if (box.hidden) return;
  box.classList.toggle('good', !!memory.fits);
  const need = `training needs about ${Math.round(memory.estimate_mb)} MB (largest buffer ${Math.round(memory.largest_buffer_mb)} MB): lower the batch size or max length`;
  box.textContent = memory.fits ? memory.advice : `This run does not fit on this device: ${memory.advice || need}.`;
}

/** Attaches the card's file, folder and drop inputs and the column choices. */
export function wireDataCard() {
  dataInputs('data', loadDataFile, loadImageFolder, dataFailed);
  for (const id of ['text-column', 'label-column']) {
    $(id).addEventListener('change', () => {
      app.columns = { text: $('text-column').value, label: $('label-column').value };
      sendData();
      refresh();
    });
  }
}
