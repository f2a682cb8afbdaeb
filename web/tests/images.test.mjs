// End-to-end tests of the page's image flow in headless Chromium on the CPU backend (wasm):
// "Try the demo" fine-tunes ResNet-20 (CIFAR-10) on the committed digits for a few epochs, then
// the results (test accuracy, misclassified thumbnails, confusion matrix), the augmentation
// preview, an image try-it and the export are checked; a run on a picked folder resumes after a
// reload; MobileNetV2 fine-tunes on photos at a chosen image size and predicts; a ResNet loaded
// by URL meets a folder with problems (its report) and bad image data (messages in the page, as
// the CLI words them).
// usage: (cd web && node --test tests/images.test.mjs)   — needs web/pkg (scripts/build-web.sh).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { serve } from '../serve.mjs';
import { artifacts, inBrowser, reloadAndResume, shared } from './browser.mjs';

// Three epochs of the demo take about 2 minutes on the wasm CPU backend with 2 cores.
const EPOCHS = 3;
// 10 balanced classes, so chance is 0.1. The test split holds 359 images: a model at chance
// scores 0.1 ± 0.016 (binomial), and 0.5 is 25 standard deviations above it. Three epochs reach
// 0.78 natively with the demo's seed (the wasm build gives the native losses within 1e-4), so the
// bound leaves room below that for backend rounding without ever passing an untrained model.
const MIN_TEST_ACCURACY = 0.5;
const TRAIN_TIMEOUT = 10 * 60_000;
const digits = join(shared, 'data/digits/images');

let server;
let base;
let work;

/// The first `n` PNGs of a digit class, as paths.
const firstOf = (label, n) => readdirSync(join(digits, label)).sort().slice(0, n).map((f) => join(digits, label, f));

/// A stored (uncompressed) ZIP of [name, bytes] entries: enough to make bad archives.
function zip(entries) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc32 = (b) => (b.reduce((c, x) => crcTable[(c ^ x) & 0xff] ^ (c >>> 8), 0xffffffff) ^ 0xffffffff) >>> 0;
  const locals = [];
  const central = [];
  let offset = 0;
  for (const [name, data] of entries) {
    const n = Buffer.from(name);
    const head = (sig, size) => {
      const h = Buffer.alloc(size);
      h.writeUInt32LE(sig, 0);
      return h;
    };
    const local = head(0x04034b50, 30);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc32(data), 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(n.length, 26);
    const dir = head(0x02014b50, 46);
    dir.writeUInt16LE(20, 4);
    dir.writeUInt16LE(20, 6);
    dir.writeUInt32LE(crc32(data), 16);
    dir.writeUInt32LE(data.length, 20);
    dir.writeUInt32LE(data.length, 24);
    dir.writeUInt16LE(n.length, 28);
    dir.writeUInt32LE(offset, 42);
    locals.push(local, n, data);
    central.push(dir, n);
    offset += 30 + n.length + data.length;
  }
  const size = central.reduce((s, b) => s + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(size, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, ...central, end]);
}

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  work = mkdtempSync(join(tmpdir(), 'edgetune-images-'));
  // A folder with problems: two classes of six digits, a duplicate, a broken PNG, a note and an
  // image outside any class folder.
  const mixed = join(work, 'mixed');
  for (const label of ['3', '7']) {
    mkdirSync(join(mixed, label), { recursive: true });
    for (const f of firstOf(label, 6)) copyFileSync(f, join(mixed, label, f.split('/').pop()));
  }
  copyFileSync(firstOf('3', 1)[0], join(mixed, '3', 'copy.png'));
  writeFileSync(join(mixed, '7', 'broken.png'), Buffer.from('\x89PNG\r\n\x1a\nnot really'));
  writeFileSync(join(mixed, 'notes.txt'), 'digits 3 and 7\n');
  copyFileSync(firstOf('7', 1)[0], join(mixed, 'stray.png'));
  // One class only.
  mkdirSync(join(work, 'one-class', 'cats'), { recursive: true });
  for (const [i, f] of firstOf('1', 3).entries()) copyFileSync(f, join(work, 'one-class', 'cats', `${i}.png`));
  // A zip with no images, and a file that only says it is a zip.
  writeFileSync(join(work, 'no-images.zip'), zip([['set/README.md', Buffer.from('# notes\n')], ['set/a/list.csv', Buffer.from('x,y\n')]]));
  writeFileSync(join(work, 'not-a.zip'), 'text,label\nhello,a\n');
  // Photos for MobileNetV2: 12 of each of three CIFAR-10 classes.
  for (const label of ['airplane', 'cat', 'ship']) {
    const from = join(shared, 'data/cifar10-small/train', label);
    mkdirSync(join(work, 'photos', label), { recursive: true });
    for (const f of readdirSync(from).sort().slice(0, 12)) copyFileSync(join(from, f), join(work, 'photos', label, f));
  }
  server = await serve({ port: 0, mounts: { '/models/': join(shared, 'models') } });
  base = `http://127.0.0.1:${server.address().port}`;
});

after(() => server && server.close());

/// Clicks "Try the demo" with `epochs` epochs on `backend` and waits for the run to end; returns
/// what the page says about it.
async function runDemo(page, backend, epochs) {
  await page.goto(`${base}/?backend=${backend}&demo_epochs=${epochs}`);
  await page.waitForFunction(() => window.edgetune?.backend && !document.querySelector('#demo').disabled, null, { timeout: 120_000 });
  assert.equal(await page.evaluate(() => window.edgetune.backend), backend);
  const t0 = Date.now();
  await page.click('#demo');
  // The listing shows thumbnails per class; the image settings replace the text ones.
  await page.waitForFunction(() => document.querySelectorAll('#image-preview .class-row').length === 10, null, { timeout: 120_000 });
  assert.ok(await page.isHidden('#data-columns'), 'column mapping is hidden for images');
  assert.ok(await page.isHidden('#max-length'), 'max length is a text setting');
  assert.ok(await page.isVisible('#aug-rotation'), 'augmentation settings are shown');
  assert.equal(await page.inputValue('#test-split'), '0.2', 'the demo uses the split of `edgetune demo`');
  assert.equal(await page.inputValue('#epochs'), String(epochs));
  await page.waitForFunction(() => ['done', 'error'].includes(window.edgetune.state) && window.edgetune.events.length > 0, null, { timeout: TRAIN_TIMEOUT, polling: 1000 });
  const state = await page.evaluate(() => ({ state: window.edgetune.state, test: window.edgetune.test, events: window.edgetune.events, error: document.querySelector('#error')?.textContent }));
  await page.screenshot({ path: join(artifacts, `demo-trained-${backend}.png`), fullPage: true });
  assert.equal(state.state, 'done', `training ended in state ${state.state}: ${state.error}`);
  const steps = state.events.filter((e) => e.event === 'step');
  const rate = steps.slice(2).reduce((s, e) => s + e.samples_per_s, 0) / Math.max(1, steps.length - 2);
  console.log(`demo (${backend}): test accuracy ${state.test.accuracy.toFixed(3)} on ${state.test.count} images after ${epochs} epochs, ` +
    `${steps.length} steps, ~${rate.toFixed(1)} train samples/s, ${((Date.now() - t0) / 1000).toFixed(0)} s from the click`);
  assert.equal(state.events.find((e) => e.event === 'start').classes, 10);
  assert.ok(state.test.count > 300, `test split of ${state.test.count} images`);
  assert.match(await page.textContent('#accuracy'), /^Test accuracy/);
  assert.equal(await page.getAttribute('#confusion', 'data-rendered'), '1', 'the confusion matrix was drawn');
  assert.match(await page.textContent('#data-report'), /1,797 files read, 1,797 images kept, 10 classes/);
  return { ...state, steps };
}

/// Misclassified examples are thumbnails of the files themselves, or an explicit "none"; try-it
/// gives a label for each image.
async function checkImageResults(page, accuracy) {
  const wrong = await page.evaluate(() => {
    const items = [...document.querySelectorAll('#misclassified li')];
    return { items: items.length, text: items[0]?.textContent || '', imgs: document.querySelectorAll('#misclassified li.image img.thumb').length };
  });
  if (accuracy < 1) {
    assert.ok(wrong.imgs > 0 && wrong.imgs === wrong.items, `misclassified: ${JSON.stringify(wrong)}`);
    // Each thumbnail shows the 8×8 digit the page loaded.
    await page.waitForFunction((n) => [...document.querySelectorAll('#misclassified img.thumb')].filter((i) => i.complete && i.naturalWidth === 8).length === n, wrong.imgs, { timeout: 10_000 });
    assert.match(wrong.text, /true \d · predicted \d · \d+ % confident/);
  } else {
    assert.match(wrong.text, /^None/);
  }
  const tries = ['0', '4', '8'].map((l) => firstOf(l, 1)[0]);
  await page.setInputFiles('#try-files', tries);
  await page.waitForFunction(() => (window.edgetune.predictions || []).length === 3, null, { timeout: 300_000 });
  const preds = await page.evaluate(() => window.edgetune.predictions);
  for (const p of preds) {
    assert.match(p.label, /^\d$/, JSON.stringify(p));
    const total = Object.values(p.probs).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(total - 1) < 1e-4, `probabilities sum to ${total}`);
  }
  console.log(`try it: ${tries.map((f, i) => `${f.split('/').slice(-2).join('/')} → ${preds[i].label}`).join(', ')}`);
  assert.equal(await page.locator('#try-output img.thumb').count(), 3);
  assert.ok(await page.isHidden('#try-text'), 'the text box is for text models');
}

let cpuFirstLoss = null;

test('the demo trains ResNet-20 on digits on the CPU backend and shows image results', { timeout: TRAIN_TIMEOUT + 300_000 }, async () => {
  await inBrowser({ webgpu: false }, async ({ page, logs }) => {
    const state = await runDemo(page, 'cpu', EPOCHS);
    cpuFirstLoss = state.steps[0].loss;
    assert.ok(state.test.accuracy >= MIN_TEST_ACCURACY, `test accuracy ${state.test.accuracy} is below ${MIN_TEST_ACCURACY} (chance 0.1)`);
    await checkImageResults(page, state.test.accuracy);

    // The augmentation preview: 8 rows of the image as loaded + 7 variants, 32 px × 3, 2-px gaps.
    await page.click('#augment-preview-button');
    await page.waitForFunction(() => document.querySelector('#augment-preview-img').naturalWidth > 0, null, { timeout: 60_000 });
    const grid = await page.evaluate(() => ({ w: document.querySelector('#augment-preview-img').naturalWidth, h: document.querySelector('#augment-preview-img').naturalHeight }));
    assert.deepEqual(grid, { w: 8 * 96 + 7 * 2, h: 8 * 96 + 7 * 2 });

    // The export is the files `edgetune export` writes for an image model.
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.click('#download-model')]);
    const bytes = readFileSync(await download.path());
    for (const name of ['config.json', 'model.safetensors', 'modeling_resnet.py']) assert.ok(bytes.includes(name), `the export has ${name}`);
    await page.screenshot({ path: join(artifacts, 'demo-results.png'), fullPage: true });
    assert.ok(!logs.some((l) => l.startsWith('pageerror')), `uncaught errors: ${logs.join('\n')}`);
  });
});

// Opt-in (EDGETUNE_WEBGPU_E2E=1, as the text WebGPU run in e2e.test.mjs): Chromium's CPU-backed WebGPU adapter (SwiftShader) trains ResNet-20 at about 2 samples/s on 2 cores, so this runs a quarter of an epoch (5 steps,
// about 5 minutes): the same page flow on the WebGPU backend, and its first loss (one forward
// pass of the same first batch) is the CPU run's.
const webgpuE2E = process.env.EDGETUNE_WEBGPU_E2E === '1';
test('the demo runs on WebGPU (SwiftShader) as on the CPU', { timeout: TRAIN_TIMEOUT + 300_000, skip: !webgpuE2E && 'set EDGETUNE_WEBGPU_E2E=1' }, async () => {
  await inBrowser({ webgpu: true }, async ({ page, logs }) => {
    const state = await runDemo(page, 'webgpu', 0.25);
    assert.ok(/WebGPU/.test(await page.textContent('#backend-info')), await page.textContent('#backend-info'));
    if (cpuFirstLoss != null) {
      const diff = Math.abs(state.steps[0].loss - cpuFirstLoss);
      assert.ok(diff < 1e-4, `first loss ${state.steps[0].loss} on WebGPU vs ${cpuFirstLoss} on the CPU`);
    }
    await checkImageResults(page, state.test.accuracy);
    assert.ok(!logs.some((l) => l.startsWith('pageerror')), `uncaught errors: ${logs.join('\n')}`);
  });
});

// A lost GPU (the worker destroys its GPUDevice, so `device.lost` fires and cubecl fails the next
// read) mid-run: the page starts a new worker, which resumes from the last checkpoint on WebGPU,
// and the run finishes. 40 digits in batches of 4 keep it to a minute on SwiftShader.
test('a lost GPU device resumes the run from its last checkpoint', { timeout: TRAIN_TIMEOUT }, async () => {
  const small = join(work, 'small');
  for (let d = 0; d < 10; d++) {
    mkdirSync(join(small, String(d)), { recursive: true });
    for (const f of firstOf(String(d), 4)) copyFileSync(f, join(small, String(d), f.split('/').pop()));
  }
  await inBrowser({ webgpu: true }, async ({ page, logs }) => {
    await page.goto(`${base}/?model=${encodeURIComponent(`${base}/models/resnet20-cifar10/`)}`);
    await page.waitForFunction(() => window.edgetune && window.edgetune.backend, null, { timeout: 120_000 });
    assert.equal(await page.evaluate(() => window.edgetune.backend), 'webgpu', 'WebGPU is available');
    await page.click('#model-load');
    await page.waitForFunction(() => /ready/i.test(document.querySelector('#model-status')?.textContent || ''), null, { timeout: 120_000 });
    await page.setInputFiles('#data-folder', small);
    await page.waitForFunction(() => document.querySelectorAll('#image-preview .class-row').length === 10, null, { timeout: 120_000 });
    await page.evaluate(() => (document.querySelector('#advanced').open = true));
    for (const [id, value] of Object.entries({ epochs: '2', 'batch-size': '4', 'valid-split': '0.2', 'test-split': '0', 'checkpoint-every': '2' })) {
      await page.fill(`#${id}`, value);
      await page.dispatchEvent(`#${id}`, 'change');
    }
    await page.waitForFunction(() => !document.querySelector('#train').disabled, null, { timeout: 120_000 });
    await page.click('#train');
    await page.waitForFunction(() => (window.edgetune.lastCheckpointStep || 0) >= 2, null, { timeout: TRAIN_TIMEOUT, polling: 200 });
    const lostAfter = await page.evaluate(() => window.edgetune.lastCheckpointStep);
    await page.evaluate(() => window.edgetune.debugLoseDevice());
    await page.waitForFunction(() => !document.querySelector('#train-notice').hidden, null, { timeout: 120_000 });
    const notice = await page.textContent('#train-notice');
    assert.match(notice, /The GPU was reset; resumed from step \d+/);
    await page.waitForFunction(() => ['done', 'error'].includes(window.edgetune.state), null, { timeout: TRAIN_TIMEOUT, polling: 1000 });
    const state = await page.evaluate(() => ({ state: window.edgetune.state, events: window.edgetune.events, valid: window.edgetune.valid, backend: window.edgetune.backend, error: document.querySelector('#error')?.textContent }));
    await page.screenshot({ path: join(artifacts, 'lost-device-resumed.png'), fullPage: true });
    assert.equal(state.state, 'done', `the run ended '${state.state}': ${state.error}`);
    assert.equal(state.backend, 'webgpu', 'the new worker is on WebGPU again');
    // The page keeps the events of the run before the loss; the resumed run's start comes last.
    const at = state.events.findLastIndex((e) => e.event === 'start');
    const start = state.events[at];
    assert.ok(start.resumed_at_step >= 2 && start.resumed_at_step >= lostAfter, `resumed at step ${start.resumed_at_step}; the device was lost after the checkpoint at ${lostAfter}`);
    assert.equal(Number(notice.match(/step (\d+)/)[1]), start.resumed_at_step);
    const steps = state.events.slice(at).filter((e) => e.event === 'step');
    assert.equal(steps[0].step, start.resumed_at_step + 1, 'the resumed run goes on at the step after the checkpoint');
    assert.equal(steps[steps.length - 1].step, start.total_steps, 'and runs to its last step');
    assert.ok(state.valid && state.valid.count === 10, `validation on the 10 held-out images (one a class): ${JSON.stringify(state.valid)}`);
    console.log(`lost device after the checkpoint at step ${lostAfter}: resumed at step ${start.resumed_at_step} of ${start.total_steps} on ${state.backend}`);
    assert.ok(!logs.some((l) => l.startsWith('pageerror')), `uncaught errors: ${logs.join('\n')}`);
  });
});

test('an image run from a picked folder survives a reload and resumes', { timeout: TRAIN_TIMEOUT + 300_000 }, async () => {
  await inBrowser({ webgpu: false }, async ({ page }) => {
    await page.goto(`${base}/?backend=cpu&model=${encodeURIComponent(`${base}/models/resnet20-cifar10/`)}`);
    await page.waitForFunction(() => window.edgetune && window.edgetune.backend, null, { timeout: 120_000 });
    await page.click('#model-load');
    await page.waitForFunction(() => /ready/i.test(document.querySelector('#model-status')?.textContent || ''), null, { timeout: 120_000 });
    // The digits as a folder of class folders (1,797 files), not the demo's zip.
    await page.setInputFiles('#data-folder', digits);
    await page.waitForFunction(() => document.querySelectorAll('#image-preview .class-row').length === 10, null, { timeout: 120_000 });
    await page.evaluate(() => (document.querySelector('#advanced').open = true));
    for (const [id, value] of Object.entries({ epochs: '1', 'checkpoint-every': '3' })) {
      await page.fill(`#${id}`, value);
      await page.dispatchEvent(`#${id}`, 'change');
    }
    await page.waitForFunction(() => !document.querySelector('#train').disabled, null, { timeout: 120_000 });
    await page.click('#train');
    const { start, ...state } = await reloadAndResume(page, {
      timeout: TRAIN_TIMEOUT,
      screenshot: 'image-resumed.png',
      check: (banner) => assert.match(banner, /on images\.zip/, 'the folder is kept as a zip beside the run'),
    });
    assert.equal(start.classes, 10);
    assert.ok(state.test.count > 100, `a test split of ${state.test.count}`);
    // After a reload the page no longer holds the images: the try-it box is the image one.
    assert.ok(await page.isVisible('#try-drop'), 'try-it takes images');
  });
});

// An ImageNet model beside ResNet in the page: torchvision's MobileNetV2 (its bare weights file),
// fine-tuned whole on a picked folder of photos at 64×64 on the CPU backend, then the try-it box
// predicts with it.
test('MobileNetV2 fine-tunes on photos on the CPU backend and predicts', { timeout: TRAIN_TIMEOUT }, async () => {
  await inBrowser({ webgpu: false }, async ({ page }) => {
    await page.goto(`${base}/?backend=cpu&model=${encodeURIComponent(`${base}/models/mobilenet_v2-imagenet/`)}`);
    await page.waitForFunction(() => window.edgetune && window.edgetune.backend, null, { timeout: 120_000 });
    await page.click('#model-load');
    await page.waitForFunction(() => /ready/i.test(document.querySelector('#model-status')?.textContent || ''), null, { timeout: 120_000 });
    assert.match(await page.textContent('#model-status'), /MobileNetV2, 224×224 input/);
    await page.setInputFiles('#data-folder', join(work, 'photos'));
    await page.waitForFunction(() => document.querySelectorAll('#image-preview .class-row').length === 3, null, { timeout: 120_000 });
    await page.evaluate(() => (document.querySelector('#advanced').open = true));
    await page.selectOption('#image-fit', 'resize');
    for (const [id, value] of Object.entries({ epochs: '3', 'image-size': '64', 'batch-size': '8', 'test-split': '0.25', 'valid-split': '0' })) {
      await page.fill(`#${id}`, value);
      await page.dispatchEvent(`#${id}`, 'change');
    }
    await page.waitForFunction(() => !document.querySelector('#train').disabled, null, { timeout: 120_000 });
    const t0 = Date.now();
    await page.click('#train');
    await page.waitForFunction(() => ['done', 'error'].includes(window.edgetune.state) && window.edgetune.events.length > 0, null, { timeout: TRAIN_TIMEOUT, polling: 1000 });
    const state = await page.evaluate(() => ({ state: window.edgetune.state, test: window.edgetune.test, events: window.edgetune.events, error: document.querySelector('#error')?.textContent }));
    await page.screenshot({ path: join(artifacts, 'mobilenet-trained.png'), fullPage: true });
    assert.equal(state.state, 'done', `training ended in state ${state.state}: ${state.error}`);
    const losses = state.events.filter((e) => e.event === 'step').map((e) => e.loss);
    assert.ok(losses.length >= 9 && losses.every(Number.isFinite), `step losses: ${losses}`);
    const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const [first, last] = [mean(losses.slice(0, 3)), mean(losses.slice(-3))];
    assert.ok(last < first, `the loss did not go down: ${first} (first 3 steps) → ${last} (last 3)`);
    assert.equal(state.test.count, 9);
    const tries = ['airplane', 'ship'].map((l) => join(work, 'photos', l, readdirSync(join(work, 'photos', l)).sort()[0]));
    await page.setInputFiles('#try-files', tries);
    await page.waitForFunction(() => (window.edgetune.predictions || []).length === 2, null, { timeout: 120_000 });
    const preds = await page.evaluate(() => window.edgetune.predictions);
    for (const p of preds) assert.ok(['airplane', 'cat', 'ship'].includes(p.label), JSON.stringify(p));
    console.log(`mobilenet_v2: ${losses.length} steps, mean loss of the first 3 ${first.toFixed(3)} → last 3 ${last.toFixed(3)}, ` +
      `test accuracy ${state.test.accuracy.toFixed(3)} on ${state.test.count}, ${((Date.now() - t0) / 1000).toFixed(0)} s; try it: ${preds.map((p) => p.label).join(', ')}`);
  });
});

/// The CLI's message for bad image data, without the "error: " prefix and the directory.
function cliError(data) {
  const bin = process.env.EDGETUNE_BIN;
  if (!bin) return null;
  try {
    execFileSync(bin, ['train', '--model', join(shared, 'models/resnet20-cifar10'), '--data', data, '--epochs', '1'], { stdio: 'pipe' });
  } catch (e) {
    return e.stderr.toString().trim().replace(/^error: /, '').replaceAll(dirname(data) + '/', '');
  }
  return null;
}

test('image data: the report names files left out, and bad data shows a clear message', { timeout: 600_000 }, async () => {
  await inBrowser({ webgpu: false }, async ({ page, logs }) => {
    await page.goto(`${base}/?backend=cpu&model=${encodeURIComponent(`${base}/models/resnet20-cifar10/`)}`);
    await page.waitForFunction(() => window.edgetune && window.edgetune.backend, null, { timeout: 120_000 });
    await page.click('#model-load');
    await page.waitForFunction(() => /ready/i.test(document.querySelector('#model-status')?.textContent || ''), null, { timeout: 120_000 });
    assert.match(await page.textContent('#model-status'), /ResNet-20, 32×32 input/);

    // A picked folder with problems: listed per class, then the data check names each problem.
    await page.setInputFiles('#data-folder', join(work, 'mixed'));
    await page.waitForFunction(() => /Data check/.test(document.querySelector('#data-report')?.textContent || ''), null, { timeout: 60_000 });
    const listing = await page.textContent('#image-preview');
    assert.match(listing, /14 images in 2 classes · 2 files left out/);
    const report = await page.textContent('#data-report');
    for (const expected of [
      '16 files read, 12 images kept, 2 classes',
      'notes.txt: not an image file (PNG, JPEG, WebP, BMP, GIF)',
      'stray.png: not inside a class folder',
      '7/broken.png: not an image edgetune reads (PNG, JPEG, WebP, BMP, GIF)',
      '1 duplicate image removed',
    ]) assert.ok(report.includes(expected), `the report says "${expected}": ${report}`);
    await page.waitForFunction(() => !document.querySelector('#train').disabled, null, { timeout: 60_000 });
    await page.screenshot({ path: join(artifacts, 'image-report.png'), fullPage: true });

    const cases = [
      ['no-images.zip', "no usable image files (PNG, JPEG, WebP, BMP, GIF): 2 skipped, the first 'set/README.md': not an image file"],
      ['not-a.zip', 'not-a.zip: not a ZIP archive'],
      ['one-class', "found only one class folder 'cats': image classification needs at least two"],
    ];
    for (const [name, expected] of cases) {
      const path = join(work, name);
      await page.evaluate(() => { document.querySelector('#error').textContent = ''; });
      await page.setInputFiles(name.endsWith('.zip') ? '#data-file' : '#data-folder', path);
      await page.waitForFunction(() => (document.querySelector('#error')?.textContent || '').trim().length > 0, null, { timeout: 60_000 });
      const shown = (await page.textContent('#error')).trim();
      assert.ok(shown.includes(expected), `${name}: the page shows "${shown}", expected "${expected}"`);
      const cli = cliError(path);
      if (cli) assert.ok(shown.includes(cli.split('\n')[0].replace(/^[^:]*: /, '')), `${name}: the page shows "${shown}", the CLI says "${cli}"`);
      assert.ok(await page.isVisible('#error'), `${name}: the message is visible`);
      assert.ok(await page.isDisabled('#train'), `${name}: nothing to train on`);
    }
    await page.screenshot({ path: join(artifacts, 'image-bad-input.png'), fullPage: true });
    assert.ok(!logs.some((l) => l.startsWith('pageerror')), `uncaught errors: ${logs.join('\n')}`);
  });
});
