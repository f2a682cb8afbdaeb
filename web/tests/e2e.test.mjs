// End-to-end tests of the page in headless Chromium (Debian's chromium, driven by
// playwright-core): load MiniLM from a local server standing in for the Hub, drop a 300-row
// stratified subset of banking77 (10 classes), train one epoch on WebGPU and on the CPU
// fallback, reload mid-run and resume, and check that bad input shows a message in the page.
// Screenshots go to web/test-results/ (EDGETUNE_ARTIFACTS overrides).
// usage: (cd web && npm test)   — needs web/pkg (scripts/build-web.sh) and ../shared.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { serve } from '../serve.mjs';
import { artifacts, inBrowser, reloadAndResume, repo, shared } from './browser.mjs';

const CHANCE = 0.1; // 10 balanced classes
const MARGIN = 0.3; // validation accuracy must reach chance + 30 points after one epoch
const TRAIN_TIMEOUT = 15 * 60_000;
// Chromium's WebGPU adapter here is CPU-backed (SwiftShader): one epoch of a full fine-tune of
// MiniLM took 25 minutes on 2 cores (a real GPU takes seconds), so the WebGPU run freezes the
// bottom 4 of its 6 layers (and the embeddings), as a user may: backward and AdamW then run on
// the top 2 layers and the head only. The CPU fallback run below fine-tunes every layer.
const WEBGPU_SETTINGS = { 'freeze-layers': '4' };
const WEBGPU_TRAIN_TIMEOUT = Number(process.env.EDGETUNE_WEBGPU_TIMEOUT_MIN || 40) * 60_000;

let server;
let base;
let work;
// The small seeded random text families of tests/golden/make_family_golden.py (built here with
// the Python env of scripts/setup-python.sh), or null without it.
let families = null;
const python = process.env.EDGETUNE_PYTHON || join(homedir(), '.cache/edgetune/venv/bin/python');

/// CSV records (a quoted field may hold commas and line breaks), each as [raw text, last field].
function csvRecords(text) {
  const records = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i <= text.length; i++) {
    const c = text[i];
    if (c === '"') quoted = !quoted;
    else if ((c === '\n' || i === text.length) && !quoted) {
      const raw = text.slice(start, i).replace(/\r$/, '');
      if (raw) records.push([raw, raw.slice(raw.lastIndexOf(',') + 1)]);
      start = i + 1;
    }
  }
  return records;
}

/// The first 30 rows of each of the 10 alphabetically first classes of banking77's train.csv.
function stratifiedSubset() {
  const [header, ...rows] = csvRecords(readFileSync(join(shared, 'data/banking77/train.csv'), 'utf8'));
  const classes = [...new Set(rows.map((r) => r[1]))].sort().slice(0, 10);
  const out = [header[0]];
  for (const c of classes) out.push(...rows.filter((r) => r[1] === c).slice(0, 30).map((r) => r[0]));
  return out.join('\n') + '\n';
}

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  work = mkdtempSync(join(tmpdir(), 'edgetune-e2e-'));
  writeFileSync(join(work, 'banking10.csv'), stratifiedSubset());
  // A model directory missing its weights.
  const broken = join(work, 'broken-model');
  mkdirSync(broken);
  for (const f of ['config.json', 'tokenizer.json', 'vocab.txt']) copyFileSync(join(shared, 'models/all-MiniLM-L6-v2', f), join(broken, f));
  const mounts = { '/models/': join(shared, 'models'), '/broken/': broken };
  if (existsSync(python)) {
    families = join(work, 'families');
    execFileSync(python, [join(repo, 'tests/golden/make_family_golden.py'), families, 'xlm-roberta'], { stdio: 'ignore', env: { ...process.env, HF_HUB_OFFLINE: '1' } });
    mounts['/families/'] = families;
  }
  server = await serve({ port: 0, mounts });
  base = `http://127.0.0.1:${server.address().port}`;
});

after(() => server && server.close());

async function openPage(page, backend) {
  const model = `${base}/models/all-MiniLM-L6-v2/`;
  await page.goto(`${base}/?model=${encodeURIComponent(model)}${backend ? `&backend=${backend}` : ''}`);
  await page.waitForFunction(() => window.edgetune && window.edgetune.backend, null, { timeout: 120_000 });
}

async function loadModelAndData(page, settings = {}) {
  await page.click('#model-load');
  await page.waitForFunction(() => /ready/i.test(document.querySelector('#model-status')?.textContent || ''), null, { timeout: 300_000 });
  await page.setInputFiles('#data-file', join(work, 'banking10.csv'));
  await page.waitForFunction(() => (document.querySelector('#data-report')?.textContent || '').length > 20, null, { timeout: 120_000 });
  await page.evaluate(() => (document.querySelector('#advanced').open = true));
  for (const [id, value] of Object.entries({ epochs: '1', 'test-split': '0', 'valid-split': '0.1', ...settings })) {
    await page.fill(`#${id}`, value);
    await page.dispatchEvent(`#${id}`, 'change');
  }
  await page.waitForFunction(() => !document.querySelector('#train').disabled, null, { timeout: 120_000 });
}

async function trainToEnd(page, name, timeout = TRAIN_TIMEOUT) {
  await page.click('#train');
  await page.waitForFunction(() => ['done', 'error'].includes(window.edgetune.state), null, { timeout, polling: 1000 });
  const state = await page.evaluate(() => ({ state: window.edgetune.state, valid: window.edgetune.valid, events: window.edgetune.events, error: document.querySelector('#error')?.textContent }));
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
  assert.equal(state.state, 'done', `training ended in state ${state.state}: ${state.error}`);
  return state;
}

async function checkResults(page, state) {
  const accuracy = state.valid.accuracy;
  assert.ok(accuracy >= CHANCE + MARGIN, `validation accuracy ${accuracy} is not above chance (${CHANCE}) by ${MARGIN}`);
  const steps = state.events.filter((e) => e.event === 'step').length;
  assert.ok(steps >= 8, `only ${steps} step events`);
  assert.ok(Number(await page.getAttribute('#loss-chart', 'data-points')) >= steps, 'the loss chart shows every step');
  assert.ok(Number(await page.getAttribute('#metric-chart', 'data-points')) >= 1, 'the metric chart shows the epoch');
  assert.equal(await page.getAttribute('#confusion', 'data-rendered'), '1', 'the confusion matrix was drawn');
  assert.ok(await page.isVisible('#results'));
  return accuracy;
}

// The longest run (12-25 minutes on SwiftShader, see WEBGPU_TRAIN_TIMEOUT): a measurement, opt-in
// with EDGETUNE_WEBGPU_E2E=1. Every CI run checks WebGPU training with a short run instead:
// tests/web_parity.rs's `webgpu_matches_native_wgpu` (4 fixed-seed steps in this page's build on
// WebGPU in headless Chromium, against native wgpu).
const webgpuE2E = process.env.EDGETUNE_WEBGPU_E2E === '1';
test('trains on WebGPU (SwiftShader) and shows results', { timeout: WEBGPU_TRAIN_TIMEOUT + 600_000, skip: !webgpuE2E && 'set EDGETUNE_WEBGPU_E2E=1' }, async () => {
  await inBrowser({ webgpu: true }, async ({ page, logs }) => {
    await openPage(page, 'webgpu');
    const backend = await page.evaluate(() => window.edgetune.backend);
    assert.equal(backend, 'webgpu', `no WebGPU backend: ${await page.textContent('#backend-info')}\n${logs.join('\n')}`);
    const t0 = Date.now();
    await loadModelAndData(page, WEBGPU_SETTINGS);
    const state = await trainToEnd(page, 'webgpu-trained', WEBGPU_TRAIN_TIMEOUT);
    const acc = await checkResults(page, state);
    console.log(`webgpu: validation accuracy ${acc.toFixed(3)} after 1 epoch, ${((Date.now() - t0) / 60_000).toFixed(1)} min (${await page.textContent('#backend-info')})`);
    // The try-it box predicts as the user types.
    await page.fill('#try-text', 'my card still has not arrived');
    await page.waitForFunction(() => (document.querySelector('#try-output')?.textContent || '').length > 3, null, { timeout: 60_000 });
  });
});

test('trains on the CPU fallback when WebGPU is unavailable', { timeout: TRAIN_TIMEOUT + 600_000 }, async () => {
  await inBrowser({ webgpu: false }, async ({ page }) => {
    await openPage(page);
    assert.equal(await page.evaluate(() => window.edgetune.backend), 'cpu');
    assert.match(await page.textContent('#backend-info'), /CPU/);
    await loadModelAndData(page);
    const state = await trainToEnd(page, 'cpu-trained');
    const acc = await checkResults(page, state);
    console.log(`cpu: validation accuracy ${acc.toFixed(3)} after 1 epoch`);
  });
});

// A family beside BERT in the page: the multilingual XLM-RoBERTa (a Unigram tokenizer), as a
// small random model, fine-tuned on the CPU fallback; then the try-it box predicts with it.
test('an XLM-RoBERTa model fine-tunes on the CPU fallback and predicts', { timeout: TRAIN_TIMEOUT, skip: !existsSync(python) && !process.env.CI && 'no Python env (scripts/setup-python.sh)' }, async () => {
  assert.ok(families, `CI needs the Python env for this test: ${python}`);
  await inBrowser({ webgpu: false }, async ({ page }) => {
    const model = `${base}/families/xlm-roberta/`;
    await page.goto(`${base}/?model=${encodeURIComponent(model)}&backend=cpu`);
    await page.waitForFunction(() => window.edgetune && window.edgetune.backend, null, { timeout: 120_000 });
    await loadModelAndData(page, { epochs: '3', lr: '0.001' });
    assert.match(await page.textContent('#model-status'), /XLM-RoBERTa, 2 layers/);
    const state = await trainToEnd(page, 'xlm-roberta-trained');
    const losses = state.events.filter((e) => e.event === 'step').map((e) => e.loss);
    assert.ok(losses.length >= 8 && losses.every(Number.isFinite), `step losses: ${losses}`);
    const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const [first, last] = [mean(losses.slice(0, 3)), mean(losses.slice(-3))];
    assert.ok(last < first, `the loss did not go down: ${first} (first 3 steps) → ${last} (last 3)`);
    await page.fill('#try-text', 'Где моя карта?');
    await page.waitForFunction(() => (document.querySelector('#try-output')?.textContent || '').length > 3, null, { timeout: 60_000 });
    console.log(`xlm-roberta: ${losses.length} steps, mean loss of the first 3 ${first.toFixed(3)} → last 3 ${last.toFixed(3)}, validation accuracy ${state.valid.accuracy.toFixed(3)}`);
  });
});

test('a reload mid-run offers to resume, and the run finishes', { timeout: TRAIN_TIMEOUT + 600_000 }, async () => {
  await inBrowser({ webgpu: false }, async ({ page }) => {
    await openPage(page, 'cpu');
    await loadModelAndData(page, { 'checkpoint-every': '3' });
    await page.click('#train');
    const state = await reloadAndResume(page, { timeout: TRAIN_TIMEOUT, screenshot: 'resumed-done.png' });
    assert.ok(state.valid.accuracy >= CHANCE + MARGIN, `validation accuracy ${state.valid.accuracy}`);
  });
});

/// banking10.csv with each text tagged with the words of its intent ("card_arrival" → "arrival,card").
function taggedSubset() {
  const [header, ...rows] = csvRecords(stratifiedSubset());
  const stop = new Set(['or', 'by', 'my', 'to', 'of', 'and', 'after', 'into', 'via', 'for', 'about', 'on']);
  const tags = (intent) => [...new Set(intent.toLowerCase().split('_').map((w) => w.replace(/[^a-z0-9]/g, '')).filter((w) => w && !stop.has(w)))].sort().join(',');
  return ['text,tags', ...rows.map(([raw, intent]) => `${raw.slice(0, raw.lastIndexOf(','))},"${tags(intent)}"`)].join('\n') + '\n';
}

test('a multi-label run (head only) reports micro and macro F1 and predicts tags', { timeout: TRAIN_TIMEOUT + 600_000 }, async () => {
  writeFileSync(join(work, 'banking10-tags.csv'), taggedSubset());
  await inBrowser({ webgpu: false }, async ({ page }) => {
    await openPage(page, 'cpu');
    await page.click('#model-load');
    await page.waitForFunction(() => /ready/i.test(document.querySelector('#model-status')?.textContent || ''), null, { timeout: 300_000 });
    await page.setInputFiles('#data-file', join(work, 'banking10-tags.csv'));
    await page.waitForFunction(() => (document.querySelector('#data-report')?.textContent || '').length > 20, null, { timeout: 120_000 });
    assert.ok(await page.isDisabled('#label-sep'), 'the tag separator waits for the multi-label box');
    await page.check('#multi-label');
    assert.ok(!(await page.isDisabled('#label-sep')));
    await page.evaluate(() => (document.querySelector('#advanced').open = true));
    await page.check('#head-only');
    for (const [id, value] of Object.entries({ epochs: '30', 'batch-size': '16', 'head-lr': '0.01', 'test-split': '0', 'valid-split': '0.2' })) {
      await page.fill(`#${id}`, value);
      await page.dispatchEvent(`#${id}`, 'change');
    }
    // The data report of these settings: rows per tag, and the 80/20 split.
    await page.waitForFunction(() => {
      const report = document.querySelector('#data-report')?.textContent || '';
      return / tags \(/.test(report) && /240 train · 60 validation/.test(report) && !document.querySelector('#train').disabled;
    }, null, { timeout: 120_000 });
    const report = await page.textContent('#data-report');
    assert.match(report, /300 rows read, 300 kept, 25 tags \(3\.20 per row, 10 distinct sets\)/);
    const state = await trainToEnd(page, 'multilabel-trained');
    const v = state.valid;
    assert.ok(v.micro_f1 >= 0.6 && v.threshold > 0 && v.threshold < 1, `validation micro F1 ${v.micro_f1} at threshold ${v.threshold}`);
    const headline = await page.textContent('#accuracy');
    assert.match(headline, /micro F1 [0-9.]+ · macro F1 [0-9.]+/);
    assert.equal(await page.textContent('#per-class-heading'), 'Per tag');
    assert.ok(!(await page.isVisible('#confusion')), 'no confusion matrix for tags');
    await page.fill('#try-text', 'my card still has not arrived');
    await page.waitForFunction(() => /Tags:/.test(document.querySelector('#try-output')?.textContent || ''), null, { timeout: 60_000 });
    console.log(`multi-label (head only, cpu): validation micro F1 ${v.micro_f1.toFixed(3)}, macro F1 ${v.macro_f1.toFixed(3)}; try-it: ${await page.textContent('#try-output')}`);
  });
});

/// The CLI's message for a bad data file, without the "error: " prefix and the directory.
function cliError(file) {
  const bin = process.env.EDGETUNE_BIN;
  if (!bin) return null;
  try {
    execFileSync(bin, ['train', '--model', join(shared, 'models/all-MiniLM-L6-v2'), '--data', file], { stdio: 'pipe' });
  } catch (e) {
    return e.stderr.toString().trim().replace(/^error: /, '').replaceAll(dirname(file) + '/', '');
  }
  return null;
}

test('bad input shows a clear message in the page', { timeout: 600_000 }, async () => {
  const cases = [
    ['one-column.csv', 'text\nhello\nworld\n', 'one-column.csv: only one column ("text"): expected a text column and a label column'],
    ['unclosed.csv', 'text,label\n"never closed,a\nb,c\n', 'unclosed.csv'],
    ['all-empty.csv', 'text,label\n,a\n,b\n', 'no usable rows'],
    ['one-class.csv', 'text,label\nhello,a\nworld,a\nagain,a\n', "only one class ('a')"],
  ];
  await inBrowser({ webgpu: false }, async ({ page, logs }) => {
    await openPage(page, 'cpu');
    await page.click('#model-load');
    await page.waitForFunction(() => /ready/i.test(document.querySelector('#model-status')?.textContent || ''), null, { timeout: 300_000 });
    for (const [name, body, expected] of cases) {
      const file = join(work, name);
      writeFileSync(file, body);
      await page.evaluate(() => { const e = document.querySelector('#error'); if (e) e.textContent = ''; });
      await page.setInputFiles('#data-file', file);
      await page.waitForFunction(() => (document.querySelector('#error')?.textContent || '').trim().length > 0, null, { timeout: 60_000 });
      const shown = (await page.textContent('#error')).trim();
      assert.ok(shown.includes(expected), `${name}: the page shows "${shown}", expected "${expected}"`);
      const cli = cliError(file);
      if (cli) assert.ok(shown.includes(cli.split('\n')[0]), `${name}: the page shows "${shown}", the CLI says "${cli}"`);
      assert.ok(await page.isVisible('#error'), `${name}: the message is visible`);
    }
    await page.screenshot({ path: join(artifacts, 'bad-input.png'), fullPage: true });
    // A model directory missing a file says which.
    await page.fill('#model-url', `${base}/broken/`);
    await page.evaluate(() => { document.querySelector('#error').textContent = ''; });
    await page.click('#model-load');
    await page.waitForFunction(() => /model\.safetensors/.test(document.querySelector('#error')?.textContent || ''), null, { timeout: 60_000 });
    assert.ok(!logs.some((l) => l.startsWith('pageerror')), `uncaught errors: ${logs.join('\n')}`);
  });
});
