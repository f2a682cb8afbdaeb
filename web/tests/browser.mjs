// What the browser tests share: where things are, and a fresh headless Chromium (Debian's
// chromium, driven by playwright-core) per test, with WebGPU on SwiftShader or no WebGPU at all.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, '..', '..');
export const shared = resolve(process.env.SHARED || join(repo, '..', 'shared'));
export const artifacts = resolve(process.env.EDGETUNE_ARTIFACTS || join(repo, 'web', 'test-results'));
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';

async function launch({ webgpu }) {
  const args = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
  if (webgpu) args.push('--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-angle=swiftshader', '--enable-unsafe-swiftshader');
  else args.push('--disable-features=WebGPU', '--disable-gpu');
  const profile = mkdtempSync(join(tmpdir(), 'edgetune-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: chromiumPath, headless: true, args, viewport: { width: 1200, height: 900 }, acceptDownloads: true });
  const page = context.pages()[0] || (await context.newPage());
  const logs = [];
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  return { context, page, logs, profile };
}

/// Runs `body({ page, logs })` in a fresh browser; on failure takes a screenshot and adds the
/// page's error banner and console to the error; always closes the browser.
export async function inBrowser(options, body) {
  mkdirSync(artifacts, { recursive: true });
  const { context, page, logs, profile } = await launch(options);
  try {
    await body({ page, logs });
  } catch (e) {
    await snapFailure(page, logs, e);
  } finally {
    await context.close();
    // A profile (with its OPFS files and shader caches) is about 570 MB: never leave one behind.
    rmSync(profile, { recursive: true, force: true });
  }
}

/// On failure: a screenshot, the page's own error banner and console, then rethrow.
async function snapFailure(page, logs, e) {
  const name = `failure-${Date.now()}.png`;
  await page.screenshot({ path: join(artifacts, name), fullPage: true }).catch(() => {});
  const banner = await page.textContent('#error').catch(() => '');
  e.message += `\n  screenshot: ${join(artifacts, name)}\n  #error: ${banner}\n  console:\n    ${logs.slice(-30).join('\n    ')}`;
  throw e;
}

/// Once a run has saved a checkpoint at step 3 or later: reloads the page, checks that resuming is
/// offered (`check(bannerText)` may look at the banner), resumes, and waits for the run to end.
/// Checks that it ended `done` and continued at the step after the checkpoint; returns the page's
/// final state (`events`, `valid`, `test`) and the `start` event.
export async function reloadAndResume(page, { timeout, screenshot, check = () => {} }) {
  await page.waitForFunction(() => (window.edgetune.lastCheckpointStep || 0) >= 3, null, { timeout, polling: 500 });
  await page.reload();
  await page.waitForSelector('#resume-banner:not([hidden])', { timeout: 120_000 });
  check(await page.textContent('#resume-text'));
  await page.click('#resume-saved');
  await page.waitForFunction(() => ['done', 'error'].includes(window.edgetune.state), null, { timeout, polling: 1000 });
  const state = await page.evaluate(() => ({
    state: window.edgetune.state, events: window.edgetune.events, valid: window.edgetune.valid, test: window.edgetune.test,
    error: document.querySelector('#error')?.textContent,
  }));
  await page.screenshot({ path: join(artifacts, screenshot), fullPage: true });
  if (state.state !== 'done') throw new Error(`the resumed run ended '${state.state}': ${state.error}`);
  const start = state.events.find((e) => e.event === 'start');
  if (!(start.resumed_at_step >= 3)) throw new Error(`resumed at step ${start.resumed_at_step}, expected 3 or later`);
  const first = state.events.find((e) => e.event === 'step');
  if (first.step !== start.resumed_at_step + 1) throw new Error(`the resumed run went on at step ${first.step}, not ${start.resumed_at_step + 1}`);
  return { ...state, start };
}
