// Runs web/bench.html in headless Chromium for WebGPU (SwiftShader) and the wasm CPU backend,
// and (text) times the page's first load (navigation → ready to train, model from a cold cache).
// Prints one JSON line per measurement, with train samples/s.
// usage: node web/tests/bench-browser.mjs [STEPS] [text|image]   (BACKENDS=cpu to skip WebGPU;
//   CONFIG='{"batch_size":8}' lays settings over the reference ones; FIRST_LOAD=0 skips the
//   first-load timing; WEBGPU_STEPS=N runs N steps on WebGPU instead)
//   text (default): MiniLM on banking77 (torch_text.py's workload);
//   image: ResNet-20 fine-tuned on the digits zip (torch_image.py's), from web/pkg/demo.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { serve } from '../serve.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const shared = resolve(process.env.SHARED || join(here, '..', '..', '..', 'shared'));
const steps = Number(process.argv[2] || 12);
const workload = process.argv[3] || 'text';
if (!['text', 'image'].includes(workload)) throw new Error(`workload '${workload}': expected text or image`);
const server = await serve({ port: 0, mounts: { '/models/': join(shared, 'models'), '/data/': join(shared, 'data') } });
const base = `http://127.0.0.1:${server.address().port}`;
const args = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
  '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-angle=swiftshader', '--enable-unsafe-swiftshader'];

async function withPage(fn) {
  const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'edgetune-bench-')), {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args,
  });
  try {
    return await fn(context.pages()[0] || (await context.newPage()));
  } finally {
    await context.close();
  }
}

for (const backend of (process.env.BACKENDS || 'webgpu,cpu').split(',')) {
  const line = await withPage(async (page) => {
    const config = process.env.CONFIG ? `&config=${encodeURIComponent(process.env.CONFIG)}` : '';
    const n = backend === 'webgpu' && process.env.WEBGPU_STEPS ? Number(process.env.WEBGPU_STEPS) : steps;
    await page.goto(`${base}/bench.html?workload=${workload}&backend=${backend}&steps=${n}${config}`);
    await page.waitForFunction(() => window.benchResult, null, { timeout: 60 * 60_000, polling: 1000 });
    return page.evaluate(() => window.benchResult);
  });
  console.log(JSON.stringify(line));
}

if (workload === 'image' || process.env.FIRST_LOAD === '0') {
  server.close();
  process.exit(0);
}

// First load: a fresh profile (nothing cached), the default model from the local server, a data
// file; ready when the Train button is enabled.
const first = await withPage(async (page) => {
  const csv = join(mkdtempSync(join(tmpdir(), 'edgetune-')), 'train.csv');
  writeFileSync(csv, 'text,label\n' + Array.from({ length: 40 }, (_, i) => `example number ${i},${i % 2 ? 'odd' : 'even'}`).join('\n') + '\n');
  const t0 = Date.now();
  await page.goto(`${base}/?model=${encodeURIComponent(`${base}/models/all-MiniLM-L6-v2/`)}`);
  await page.waitForFunction(() => window.edgetune && window.edgetune.backend, null, { timeout: 120_000 });
  const pageReady = (Date.now() - t0) / 1000;
  await page.click('#model-load');
  await page.waitForFunction(() => /ready/i.test(document.querySelector('#model-status')?.textContent || ''), null, { timeout: 300_000 });
  await page.setInputFiles('#data-file', csv);
  await page.waitForFunction(() => !document.querySelector('#train').disabled, null, { timeout: 120_000 });
  return { page_ready_s: pageReady, ready_to_train_s: (Date.now() - t0) / 1000, backend: await page.evaluate(() => window.edgetune.backend) };
});
console.log(JSON.stringify({ system: 'first load (cold cache, local server)', ...first }));
server.close();
