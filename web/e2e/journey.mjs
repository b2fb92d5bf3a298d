#!/usr/bin/env node
// End-to-end journey of the console against a running `berth server`:
//   sign in -> create a key -> upload a model -> deploy (the sample curl works as shown)
//   -> try it shows labels -> the charts show the traffic, 1 ready replica and its batches
//   -> bad requests show in the 4xx count and the requests tab
//   -> update, a partial update from the blank form (labels kept), roll back to a chosen revision
//   -> a re-upload under the same name is model version 2 while the service keeps version 1
//   -> deploy a TorchScript model with a signature declared in the form
//   -> deploy with autoscaling down to zero (a bad max explained first): the page says it is scaled to zero
//   -> a read-only session sees no Deploy button; every page at phone width (390 px) has no
//      sideways scroll
// Drives Debian's chromium through playwright-core and saves a screenshot of each page into
// docs/screenshots/. Every wait has a deadline; nothing sleeps for a fixed time.
//
// Environment:
//   BERTH_URL         the server (default http://127.0.0.1:8080)
//   BERTH_ADMIN_KEY   an admin key (required)
//   BERTH_E2E_MODEL   model file to upload (default models/demo/digits/1/model.onnx)
//   BERTH_E2E_IMAGE   PNG to classify (default tests/fixtures/digits/3.png)
//   BERTH_E2E_TORCH_MODEL  TorchScript file taking [N,1,28,28] FP32 and giving [N,10]
//                     (default tests/fixtures/models/tiny_cnn_pt/1/model.pt)
//   BERTH_E2E_SCREENSHOTS  where to save screenshots (default docs/screenshots; "" = none)
//   CHROMIUM          browser binary (default /usr/bin/chromium)
import { chromium } from 'playwright-core';
import { execFile } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BASE = (process.env.BERTH_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
const ADMIN = process.env.BERTH_ADMIN_KEY;
const MODEL = resolve(root, process.env.BERTH_E2E_MODEL ?? 'models/demo/digits/1/model.onnx');
const IMAGE = resolve(root, process.env.BERTH_E2E_IMAGE ?? 'tests/fixtures/digits/3.png');
const TORCH_MODEL = resolve(root, process.env.BERTH_E2E_TORCH_MODEL ?? 'tests/fixtures/models/tiny_cnn_pt/1/model.pt');
// Another ONNX model with the same signature as the default one: uploaded under the same name as version 2.
const MODEL_V2 = resolve(root, process.env.BERTH_E2E_MODEL_V2 ?? 'tests/fixtures/models/tiny_cnn/1/model.onnx');
const SHOTS = process.env.BERTH_E2E_SCREENSHOTS ?? resolve(root, 'docs/screenshots');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const SUFFIX = Date.now().toString(36).slice(-5);
const MODEL_NAME = `digits-${SUFFIX}`;
const SERVICE = `digits-${SUFFIX}`;
const TORCH = `tiny-cnn-${SUFFIX}`;
const AUTO = `auto-${SUFFIX}`;

if (!ADMIN) {
  console.error('journey: set BERTH_ADMIN_KEY to an admin key of the server at BERTH_URL');
  process.exit(2);
}
for (const f of [MODEL, MODEL_V2, IMAGE, TORCH_MODEL, CHROMIUM]) {
  if (!existsSync(f)) {
    console.error(`journey: ${f} does not exist`);
    process.exit(2);
  }
}

let stepName = 'start';
const t0 = Date.now();
function step(name) {
  stepName = name;
  console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s] ${name}`);
}

/** Polls `fn` until it returns a truthy value or the deadline passes. */
async function until(what, fn, timeoutMs = 30000, everyMs = 250) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Waits until `good` shows (returns) or `bad` shows (throws with its text). */
async function settle(what, good, bad, timeoutMs) {
  await good.or(bad).first().waitFor({ timeout: timeoutMs });
  if (!(await good.isVisible())) throw new Error(`${what} failed: ${(await bad.first().innerText()).replace(/\s+/g, ' ')}`);
}

async function apiCall(method, path, body, key = ADMIN) {
  const res = await fetch(`${BASE}${path}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light', baseURL: BASE });
await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE }).catch(() => {});
const page = await context.newPage();
page.setDefaultTimeout(20000);
const consoleErrors = [];
page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
page.on('pageerror', (e) => consoleErrors.push(String(e)));

async function shot(name, opts = {}, on = page) {
  if (!SHOTS) return;
  await mkdir(SHOTS, { recursive: true });
  // Let fonts and images settle, then capture from the top (a scrolled page would draw the
  // sticky header across the middle of a full-page shot).
  await on.evaluate(() => { window.scrollTo(0, 0); return document.fonts.ready; });
  await on.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true, animations: 'disabled', ...opts });
}

/** At phone width nothing may make the page scroll sideways (wide tables scroll in their box). */
async function noSidewaysScroll(on, what) {
  const { scroll, inner, culprit } = await on.evaluate(() => {
    const inner = window.innerWidth;
    const wide = [...document.querySelectorAll('body *')].find((el) => el.getBoundingClientRect().right > inner + 1
      && !el.closest('.table-wrap, .tabs, pre, .code'));
    return { scroll: document.documentElement.scrollWidth, inner, culprit: wide ? `${wide.tagName.toLowerCase()}.${wide.className}` : '' };
  });
  if (scroll > inner) throw new Error(`${what} scrolls sideways at ${inner} px (scrollWidth ${scroll}; ${culprit || 'no single culprit'})`);
}

/** Signs a browser page in with a key. */
async function signIn(on, key) {
  await on.goto('/sign-in');
  await on.getByLabel('API key').fill(key);
  await on.getByRole('button', { name: 'Sign in' }).click();
  await on.getByRole('heading', { name: 'Overview' }).waitFor();
}

let traffic = null;
try {
  step('sign in');
  await page.goto('/');
  await page.waitForURL(/\/sign-in/);
  await page.getByLabel('API key').waitFor();
  await shot('01-sign-in');
  await page.getByLabel('API key').fill('brth_not_a_real_key');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('That key was not accepted').waitFor();
  await page.getByLabel('API key').fill(ADMIN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  const stored = await page.evaluate(() => JSON.stringify({ ...localStorage, ...sessionStorage }) + document.cookie);
  if (stored.includes(ADMIN)) throw new Error('the API key was stored where scripts can read it');

  step('create a key');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'API keys' }).click();
  await page.getByRole('heading', { name: 'API keys' }).waitFor();
  await page.getByLabel('Name', { exact: true }).fill(`e2e-ci-${SUFFIX}`);
  await page.getByRole('checkbox', { name: /^deploy/ }).check();
  await page.getByLabel('Expires').selectOption('30');
  await page.getByRole('button', { name: 'Create key' }).click();
  const newKey = page.getByTestId('new-key');
  await newKey.waitFor();
  const keyValue = await newKey.inputValue();
  if (!keyValue.startsWith('brth_')) throw new Error(`unexpected key ${keyValue.slice(0, 8)}…`);
  await page.getByText('It will not be shown again').waitFor();
  await shot('02-keys-created', { mask: [newKey], maskColor: '#9aa4b1' });
  await page.getByRole('button', { name: 'I have saved the key' }).click();
  await page.getByRole('cell', { name: `e2e-ci-${SUFFIX}` }).waitFor();
  if ((await page.content()).includes(keyValue)) throw new Error('the key is still on the page after "I have saved the key"');
  // The new key signs in to the API.
  await apiCall('GET', '/api/v1/whoami', undefined, keyValue);

  step('upload a model');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Models' }).click();
  await page.getByRole('heading', { name: 'Models', level: 1 }).waitFor();
  // The server reads no file:// URIs unless started with --allow-file-uris; the console shows why.
  const byUri = page.getByRole('region', { name: 'Add by URI' });
  await byUri.getByLabel('Model name').fill(`${MODEL_NAME}-file`);
  await byUri.getByLabel('URI').fill(`file://${MODEL}`);
  await byUri.getByRole('button', { name: 'Add model' }).click();
  await byUri.getByRole('alert').filter({ hasText: '--allow-file-uris' }).waitFor();
  if (/scope/.test(await byUri.getByRole('alert').innerText())) throw new Error('the file:// refusal is blamed on the key\'s scopes');
  const uploader = page.getByRole('region', { name: 'Upload a model' });
  await uploader.getByLabel('Model file').setInputFiles(MODEL);
  await uploader.getByLabel('Model name').fill(MODEL_NAME);
  await uploader.getByRole('button', { name: 'Upload', exact: true }).click();
  await settle('the upload', page.getByText(`Added ${MODEL_NAME}`), uploader.getByRole('alert'), 120000);
  await page.getByRole('table').filter({ hasText: 'Inputs' }).first().waitFor();

  step('deploy');
  await page.getByRole('link', { name: 'Deploy it' }).click();
  await page.getByRole('heading', { name: 'Deploy a model' }).waitFor();
  await page.getByLabel('Model', { exact: true }).selectOption(MODEL_NAME);
  await page.getByLabel('Service name').fill(SERVICE);
  const imageToggle = page.getByRole('checkbox', { name: /Accept images/ });
  await imageToggle.waitFor();
  await imageToggle.check();
  await page.getByLabel('Labels (optional)').fill('0, 1, 2, 3, 4, 5, 6, 7, 8, 9');
  await page.getByLabel('Max batch size').fill('8');
  await shot('04-deploy-form');
  await page.getByRole('button', { name: 'Deploy', exact: true }).click();
  await settle('the deployment', page.getByRole('heading', { name: `${SERVICE} is ready` }),
    page.getByRole('alert').or(page.locator('.field-error:not(:empty)')), 120000);
  const v2 = await page.getByTestId('endpoint-REST (V2)').innerText();
  if (v2 !== `${BASE}/v2/models/${SERVICE}`) throw new Error(`REST (V2) endpoint shows ${v2}`);
  await apiCall('GET', `/v2/models/${SERVICE}`, undefined, keyValue);
  await page.getByRole('tab', { name: 'Python' }).click();
  await page.getByRole('tabpanel').getByText('import os, requests').waitFor();
  await page.getByRole('tab', { name: 'curl' }).click();
  // The curl sample works as shown: the service fetches the server's sample image (a 7).
  const sampleImage = `${BASE}/samples/digit-7.png`;
  await page.getByRole('link', { name: sampleImage }).waitFor();
  const curl = await page.getByRole('tabpanel').locator('pre').innerText();
  if (!curl.includes(`"image_url":"${sampleImage}"`) && !curl.includes(`"image_url": "${sampleImage}"`)) throw new Error(`the curl sample does not use ${sampleImage}: ${curl}`);
  const { stdout } = await promisify(execFile)('bash', ['-c', `${curl} -sS --fail-with-body --max-time 60`], {
    env: { ...process.env, BERTH_API_KEY: keyValue },
  }).catch((e) => { throw new Error(`the curl sample failed: ${e.stderr || ''}${e.stdout || e.message}`); });
  const sampleTop = JSON.parse(stdout).predictions?.[0]?.label;
  if (sampleTop !== '7') throw new Error(`the curl sample answered ${stdout}`);
  console.log(`  the curl sample, run as shown -> top label ${sampleTop}`);
  await shot('05-deployed');

  step('try it');
  await page.getByRole('link', { name: 'Try it' }).click();
  await page.getByRole('tab', { name: 'Try it', selected: true }).waitFor();
  const keysBefore = (await apiCall('GET', '/api/v1/keys')).items.length;
  const pad = page.getByTestId('drawpad');
  await pad.waitFor();
  // Draw a "7": a stroke across the top, then down to the bottom-left.
  const box = await pad.boundingBox();
  const at = (fx, fy) => [box.x + fx * box.width, box.y + fy * box.height];
  await page.mouse.move(...at(0.28, 0.22));
  await page.mouse.down();
  for (const [fx, fy] of [[0.5, 0.22], [0.72, 0.22], [0.6, 0.5], [0.48, 0.8]]) await page.mouse.move(...at(fx, fy), { steps: 8 });
  await page.mouse.up();
  await page.getByRole('button', { name: 'Classify drawing' }).click();
  await settle('the drawing to be classified', page.getByTestId('predictions').locator('li').first(), page.locator('.result-box').getByRole('alert'), 30000);
  const drawn = await page.getByTestId('predictions').locator('li').allInnerTexts();
  console.log(`  drawing of a 7 -> ${drawn.map((t) => t.replace(/\s+/g, ' ')).join(' | ')}`);
  if (!/^7\s/.test(drawn[0])) throw new Error(`the drawing of a 7 was classified as ${drawn[0]}`);
  await page.getByLabel('Image to classify').setInputFiles(IMAGE);
  await page.locator('.result-box[data-sent="2"][data-state="success"]').waitFor({ timeout: 30000 });
  const labels = await page.getByTestId('predictions').locator('li').allInnerTexts();
  if (labels.length < 1 || labels.length > 5) throw new Error(`expected 1..5 labels, got ${labels.length}`);
  console.log(`  ${IMAGE.split('/').pop()} -> ${labels.map((t) => t.replace(/\s+/g, ' ')).join(' | ')}`);
  // The default image is tests/fixtures/digits/3.png; another BERTH_E2E_IMAGE only needs labels.
  if (!process.env.BERTH_E2E_IMAGE && !/^3\s/.test(labels[0])) throw new Error(`3.png was classified as ${labels[0]}`);
  // With the session alone: no key was made for it, and the answer's status and latency show.
  if ((await apiCall('GET', '/api/v1/keys')).items.length !== keysBefore) throw new Error('try-it created an API key');
  const status = await page.getByTestId('answer-status').innerText();
  if (status !== 'HTTP 200') throw new Error(`try-it shows ${status}`);
  await page.getByTestId('answer-latency').filter({ hasText: / ms$/ }).waitFor();
  await shot('06-try-it');

  step('send traffic and watch the chart');
  const invokeKey = (await apiCall('POST', '/api/v1/keys', { name: `e2e-traffic-${SUFFIX}`, scopes: [`invoke:${SERVICE}`], expires_in_days: 1 })).key;
  const png = await readFile(IMAGE);
  let sent = 0;
  let failed = 0;
  let stop = false;
  traffic = (async () => {
    while (!stop) {
      const res = await fetch(`${BASE}/services/${SERVICE}/v1/classify`, {
        method: 'POST', headers: { Authorization: `Bearer ${invokeKey}`, 'Content-Type': 'image/png' }, body: png,
      }).catch(() => null);
      if (res?.ok) sent++; else failed++;
      await res?.arrayBuffer().catch(() => {});
    }
  })();
  traffic.stop = () => { stop = true; return traffic; };
  await page.getByRole('tab', { name: 'Overview' }).click();
  const qpsNow = page.getByTestId('chart-requests-per-second-now');
  await until('the QPS chart to show traffic', async () => {
    const t = await qpsNow.innerText();
    const n = Number((/([\d.,]+) req\/s/.exec(t)?.[1] ?? '0').replace(/,/g, ''));
    return n > 0;
  }, 60000, 500);
  await page.locator('.recharts-line-curve').first().waitFor();
  await until('the latency chart to show p99', async () => /p99 [\d.]/.test(await page.getByTestId('chart-latency-now').innerText()), 30000, 500);
  // Keep the traffic up for a few metric intervals so the charts show a curve, not a spike.
  await until('three metric points with traffic', async () =>
    (await apiCall('GET', `/api/v1/services/${SERVICE}/metrics`)).points.filter((p) => p.requests > 0).length >= 3, 60000, 1000);
  // A line through n points is a path of n-1 segments (C for the curve, L for two points);
  // dots are drawn only around gaps, so the path is what says the points are on the chart.
  await until('the latency chart to draw a line through them', async () => {
    const d = await page.locator('figure').filter({ hasText: 'Latency' }).locator('.recharts-line-curve').first().getAttribute('d');
    return (d?.match(/[CL]/g) ?? []).length >= 2;
  }, 15000, 500);
  // The replicas chart says 1 ready and its line ends level with the axis' 1; the batch-size
  // chart (gaps where no request reported a batch) draws a line through the traffic's batches.
  const replicasChart = page.getByTestId('chart-ready-replicas');
  await until('the replicas chart to show 1 ready', async () =>
    (await replicasChart.getByTestId('chart-ready-replicas-now').innerText()).trim() === '1 ready', 15000, 500);
  await until('the replicas chart to draw its line at 1', async () => replicasChart.evaluate((fig) => {
    const d = fig.querySelector('.recharts-line-curve')?.getAttribute('d') ?? '';
    const lastY = Number(/,(-?[\d.]+)\s*$/.exec(d)?.[1]);
    const one = [...fig.querySelectorAll('.recharts-yAxis-tick-labels text')].find((t) => t.textContent.trim() === '1');
    return /L/.test(d) && one != null && Math.abs(lastY - Number(one.getAttribute('y'))) < 1;
  }), 15000, 500);
  const batchChart = page.getByTestId('chart-average-batch-size');
  await until('the batch-size chart to draw a line', async () => {
    const d = await batchChart.locator('.recharts-line-curve').first().getAttribute('d');
    return (d?.match(/[CL]/g) ?? []).length >= 1 && /rows? per batch/.test(await batchChart.getByTestId('chart-average-batch-size-now').innerText());
  }, 15000, 500);
  await traffic.stop();
  console.log(`  sent ${sent} requests (${failed} failed); charts say "${await qpsNow.innerText()}", `
    + `"${await replicasChart.getByTestId('chart-ready-replicas-now').innerText()}", "${await batchChart.getByTestId('chart-average-batch-size-now').innerText()}"`);
  await shot('07-service-live');

  step('bad requests: the 4xx count and the requests tab');
  // Requests the service refuses (400): sent until the Errors chart counts them, within a deadline.
  const errorsNow = page.getByTestId('chart-errors-now');
  let bad = 0;
  await until('the Errors chart to count the 4xx answers', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${BASE}/services/${SERVICE}/v1/classify`, {
        method: 'POST', headers: { Authorization: `Bearer ${invokeKey}`, 'Content-Type': 'application/json' }, body: '{"image": 1}',
      });
      await res.arrayBuffer();
      if (res.status !== 400) throw new Error(`a request without image_url answered ${res.status}, expected 400`);
      bad++;
    }
    const n = Number(/(\d+) caller \(4xx\)/.exec(await errorsNow.innerText())?.[1] ?? 0);
    return n > 0;
  }, 30000, 500);
  const counted = (await apiCall('GET', `/api/v1/services/${SERVICE}/metrics`)).points.reduce((a, p) => a + (p.client_errors ?? 0), 0);
  if (counted < bad) throw new Error(`sent ${bad} bad requests, the metrics count ${counted} 4xx`);
  console.log(`  ${bad} bad requests -> "${await errorsNow.innerText()}"`);
  await page.getByRole('tab', { name: 'Requests' }).click();
  const reqTable = page.getByTestId('requests');
  const noRoute = page.getByText('This server does not record requests yet.');
  await reqTable.or(noRoute).first().waitFor();
  if (await reqTable.isVisible()) {
    const firstRow = reqTable.locator('tbody tr').first();
    await until('the newest request to be a 400', async () => /\b400\b/.test(await firstRow.innerText()), 15000, 500);
    await shot('14-requests');
  } else {
    console.log('  (this server does not record requests yet: the Requests tab says so)');
  }

  step('overview');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Overview' }).click();
  const row = page.getByRole('row').filter({ hasText: SERVICE });
  await row.getByText('Ready').waitFor();
  await until('the overview to show QPS for the service', async () => {
    const cells = await row.locator('td.num').allInnerTexts();
    return cells[0] && cells[0] !== '—';
  }, 30000, 500);
  await shot('08-overview');

  step('update the service (new revision)');
  await row.getByRole('link', { name: SERVICE }).click();
  await page.getByRole('link', { name: 'Edit deployment' }).click();
  await page.getByRole('heading', { name: `Update ${SERVICE}` }).waitFor();
  await until('the form to load the current spec', async () => (await page.getByLabel('Max batch size').inputValue()) === '8');
  await page.getByLabel('Max batch size').fill('4');
  await page.getByRole('button', { name: 'Update service' }).click();
  await settle('the update', page.getByRole('heading', { name: `${SERVICE} is ready` }),
    page.getByRole('alert').or(page.locator('.field-error:not(:empty)')), 120000);

  step('a partial update from the blank form keeps the labels');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Deploy' }).click();
  await page.getByRole('heading', { name: 'Deploy a model' }).waitFor();
  await page.getByLabel('Model', { exact: true }).selectOption(MODEL_NAME);
  await page.getByLabel('Service name').fill(SERVICE);
  await page.getByLabel('Max batch size').fill('4');
  await page.getByLabel('Max queue delay (µs)').fill('200');
  await page.getByRole('button', { name: 'Deploy', exact: true }).click();
  await settle('the partial update', page.getByRole('heading', { name: `${SERVICE} is ready` }),
    page.getByRole('alert').or(page.locator('.field-error:not(:empty)')), 120000);
  const patched = (await apiCall('GET', `/api/v1/services/${SERVICE}`)).spec;
  if (patched.batching?.max_queue_delay_us !== 200 || JSON.stringify(patched.image?.labels) !== JSON.stringify(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'])) {
    throw new Error(`after the partial update the spec is ${JSON.stringify(patched)}`);
  }

  step('events and logs');
  await page.getByRole('link', { name: 'Open the service' }).click();
  await page.getByRole('tab', { name: 'Events' }).click();
  await page.getByRole('list', { name: 'Events, newest first' }).locator('li').first().waitFor();
  await shot('09-events');
  await page.getByRole('tab', { name: 'Logs' }).click();
  await until('the logs to load', async () => !/^Loading/.test(await page.getByTestId('logs').innerText()));
  await shot('10-logs');

  step('dark theme');
  await page.getByRole('button', { name: /Switch to dark theme/ }).click();
  await page.getByRole('tab', { name: 'Overview' }).click();
  await page.locator('.recharts-line-curve').first().waitFor();
  await shot('11-service-dark');
  await page.getByRole('button', { name: /Switch to light theme/ }).click();

  step('roll back to a chosen revision');
  await page.getByRole('tab', { name: 'Revisions' }).click();
  const revs = page.getByTestId('revisions');
  await revs.getByText('Revision 3', { exact: true }).waitFor();
  // The diff of revision 2 (before) and 3 (serving): the queue delay the partial update changed.
  const diff = page.getByTestId('revision-diff');
  await diff.getByRole('row').filter({ hasText: 'batching.max_queue_delay_us' }).waitFor();
  const rev1 = revs.locator('li[data-revision="1"]');
  await rev1.getByRole('button', { name: 'Roll back to this revision' }).click();
  await rev1.getByRole('button', { name: 'Roll back to revision 1' }).click();
  await settle('the rollback', page.getByText(/Rolling back|Rolled back/), page.getByRole('alert'), 20000);
  await revs.getByText('Revision 4', { exact: true }).waitFor({ timeout: 30000 });
  await until('revision 4 to serve with the spec of revision 1', async () => {
    const s = await apiCall('GET', `/api/v1/services/${SERVICE}`);
    return s.current_revision === 4 && s.status === 'Ready' && s.spec?.batching?.max_batch_size === 8;
  }, 120000, 500);
  await revs.locator('li.current').filter({ hasText: 'Revision 4' }).waitFor({ timeout: 10000 });
  await page.getByText('Rolled back: revision 4 serves the spec of revision 1.').waitFor({ timeout: 10000 });
  await shot('12-revisions');

  step('a re-upload under the same name is version 2; the service keeps version 1');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Models' }).click();
  await page.getByRole('heading', { name: 'Models', level: 1 }).waitFor();
  const reUploader = page.getByRole('region', { name: 'Upload a model' });
  await reUploader.getByLabel('Model file').setInputFiles(MODEL_V2);
  // model.onnx says nothing about the model: the name is left for the person.
  if ((await reUploader.getByLabel('Model name').inputValue()) !== '') throw new Error('a name was suggested for model.onnx');
  await reUploader.getByText('is a generic file name').waitFor();
  await reUploader.getByLabel('Model name').fill(MODEL_NAME);
  await reUploader.getByRole('button', { name: 'Upload', exact: true }).click();
  await settle('the second version', page.getByText(`Version 2 of ${MODEL_NAME} created.`), reUploader.getByRole('alert'), 120000);
  await page.getByTestId(`model-version-${MODEL_NAME}`).filter({ hasText: 'v2 · 2 versions' }).waitFor();
  const versions = page.getByTestId(`versions-${MODEL_NAME}`);
  await versions.getByRole('row').filter({ hasText: SERVICE }).filter({ hasText: /^1/ }).waitFor();
  await shot('03-models');
  const kept = await apiCall('GET', `/api/v1/services/${SERVICE}`);
  if (kept.model_version !== 1) throw new Error(`after the upload the service serves version ${kept.model_version}`);
  await page.goto(`/service/${SERVICE}`);
  await page.getByTestId('served-version').filter({ hasText: 'version 1' }).waitFor();

  step('deploy a TorchScript model with a declared signature');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Models' }).click();
  await page.getByRole('heading', { name: 'Models', level: 1 }).waitFor();
  const torchUploader = page.getByRole('region', { name: 'Upload a model' });
  await torchUploader.getByLabel('Model file').setInputFiles(TORCH_MODEL);
  await torchUploader.getByLabel('Model name').fill(TORCH);
  await torchUploader.getByRole('button', { name: 'Upload', exact: true }).click();
  await settle('the TorchScript upload', page.getByText(`Added ${TORCH}`), torchUploader.getByRole('alert'), 60000);
  await page.getByRole('link', { name: 'Deploy it' }).click();
  await page.getByRole('heading', { name: 'Deploy a model' }).waitFor();
  const sig = page.getByRole('group', { name: 'Model signature' });
  await sig.getByText('This TorchScript model does not record its inputs and outputs').waitFor();
  await sig.getByLabel('Input 1 name').fill('INPUT__0');
  await sig.getByLabel('Input 1 shape').fill('-1, 1, 28, 28');
  await sig.getByLabel('Output 1 name').fill('OUTPUT__0');
  // A size of 0 is explained in the form, and nothing is sent.
  await sig.getByLabel('Output 1 shape').fill('-1x0');
  await page.getByRole('button', { name: 'Deploy', exact: true }).click();
  await sig.getByText('Output 1 shape: each size is a positive number, or -1 for a dynamic dimension.').waitFor();
  if ((await apiCall('GET', '/api/v1/services')).items.some((x) => x.name === TORCH)) throw new Error('a spec with a bad shape was sent');
  await sig.getByLabel('Output 1 shape').fill('-1x10');
  await sig.getByText(/Output 1 shape:/).waitFor({ state: 'detached' });
  await shot('13-deploy-signature');
  await page.getByRole('button', { name: 'Deploy', exact: true }).click();
  await settle('the TorchScript deployment', page.getByRole('heading', { name: `${TORCH} is ready` }),
    page.getByRole('alert').or(page.locator('.field-error:not(:empty)')), 120000);
  const torchSpec = (await apiCall('GET', `/api/v1/services/${TORCH}`)).spec;
  const declared = (l) => JSON.stringify((l ?? []).map((t) => [t.name, t.datatype, t.shape]));
  if (declared(torchSpec.inputs) !== '[["INPUT__0","FP32",[-1,1,28,28]]]' || declared(torchSpec.outputs) !== '[["OUTPUT__0","FP32",[-1,10]]]') {
    throw new Error(`the service's declared signature is ${declared(torchSpec.inputs)} -> ${declared(torchSpec.outputs)}`);
  }
  const torchOut = await apiCall('POST', `/v2/models/${TORCH}/infer`, {
    inputs: [{ name: 'INPUT__0', datatype: 'FP32', shape: [2, 1, 28, 28], data: new Array(2 * 28 * 28).fill(0.5) }],
  });
  const outShape = torchOut.outputs?.[0]?.shape;
  if (torchOut.outputs?.[0]?.name !== 'OUTPUT__0' || JSON.stringify(outShape) !== '[2,10]') {
    throw new Error(`the TorchScript service answered ${JSON.stringify(torchOut).slice(0, 300)}`);
  }
  console.log(`  ${TORCH}: INPUT__0 [2,1,28,28] -> OUTPUT__0 ${JSON.stringify(outShape)}`);

  step('deploy with autoscaling down to zero');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Deploy' }).click();
  await page.getByRole('heading', { name: 'Deploy a model' }).waitFor();
  await page.getByLabel('Model', { exact: true }).selectOption(MODEL_NAME);
  await page.getByLabel('Service name').fill(AUTO);
  await page.getByRole('button', { name: 'Autoscaling' }).click();
  await page.getByRole('checkbox', { name: /Scale the replica count with the load/ }).check();
  await page.getByLabel('Min replicas').fill('0');
  // A maximum of 0 is explained in the form, and nothing is sent.
  await page.getByLabel('Max replicas').fill('0');
  await page.getByRole('button', { name: 'Deploy', exact: true }).click();
  await page.getByText('Max replicas: must be between 1 and 64.').waitFor();
  if ((await apiCall('GET', '/api/v1/services')).items.some((x) => x.name === AUTO)) throw new Error('a spec with max_replicas 0 was sent');
  await page.getByLabel('Max replicas').fill('2');
  await page.getByLabel('Scale to zero after (s)').fill('1');
  await page.getByRole('button', { name: 'Deploy', exact: true }).click();
  await settle('the autoscaled deployment', page.getByRole('heading', { name: `${AUTO} is ready` }),
    page.getByRole('alert').or(page.locator('.field-error:not(:empty)')), 120000);
  const autoSpec = (await apiCall('GET', `/api/v1/services/${AUTO}`)).spec;
  if (autoSpec.autoscaling?.min_replicas !== 0 || autoSpec.autoscaling?.max_replicas !== 2 || autoSpec.autoscaling?.scale_to_zero_after_s !== 1) {
    throw new Error(`the autoscaled service's spec is ${JSON.stringify(autoSpec)}`);
  }
  await page.getByRole('link', { name: 'Open the service' }).click();
  await page.getByTestId('autoscaling-settings').getByText('0 to 2 (scales to zero)').waitFor();
  await page.getByTestId('scaled-to-zero').waitFor({ timeout: 60000 });
  await page.getByTestId('autoscaler').filter({ hasText: /^Autoscaler: 0 replicas — / }).waitFor();
  console.log(`  ${AUTO}: ${await page.getByTestId('autoscaler').innerText()}`);
  await shot('17-service-scaled-to-zero');

  step('a read-only session at phone width');
  const roKey = (await apiCall('POST', '/api/v1/keys', { name: `e2e-ro-${SUFFIX}`, scopes: ['read'], expires_in_days: 1 })).key;
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: 'light', baseURL: BASE, isMobile: true, hasTouch: true });
  const ro = await phone.newPage();
  ro.setDefaultTimeout(20000);
  ro.on('pageerror', (e) => consoleErrors.push(String(e)));
  await signIn(ro, roKey);
  await ro.getByRole('link', { name: SERVICE }).waitFor();
  // At phone width the navigation sits behind the top bar's menu button.
  await ro.getByRole('button', { name: 'Menu' }).click();
  await ro.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Models' }).waitFor();
  if (await ro.getByRole('link', { name: /Deploy/ }).count()) throw new Error('a read-only session is offered Deploy');
  if (await ro.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'API keys' }).count()) throw new Error('a read-only session is offered API keys');
  await noSidewaysScroll(ro, 'the overview (read-only, menu open)');
  await ro.keyboard.press('Escape');
  if (await ro.getByRole('navigation', { name: 'Main' }).count()) throw new Error('the phone menu did not close on Escape');
  await noSidewaysScroll(ro, 'the overview (read-only)');
  await ro.getByRole('link', { name: SERVICE }).click();
  const roEdit = ro.getByRole('button', { name: 'Edit deployment' });
  await roEdit.waitFor();
  if (!(await roEdit.isDisabled())) throw new Error('Edit deployment is enabled for a read-only session');
  if (!/deploy or admin/.test(await roEdit.locator('xpath=..').getAttribute('title') ?? '')) throw new Error('the disabled Edit says no reason');
  if ((await ro.getByRole('tab', { name: 'Try it' }).getAttribute('aria-disabled')) !== 'true') throw new Error('Try it is offered to a read-only session');
  await shot('15-phone-read-only', {}, ro);
  await phone.close();

  step('every page at phone width');
  const phoneAdmin = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: 'light', baseURL: BASE, isMobile: true, hasTouch: true });
  const ph = await phoneAdmin.newPage();
  ph.setDefaultTimeout(20000);
  ph.on('pageerror', (e) => consoleErrors.push(String(e)));
  await signIn(ph, ADMIN);
  await noSidewaysScroll(ph, 'the overview');
  for (const [path, heading] of [['/keys', 'API keys'], ['/models', 'Models'], ['/deploy', 'Deploy a model'], [`/deploy?service=${SERVICE}`, `Update ${SERVICE}`]]) {
    await ph.goto(path);
    await ph.getByRole('heading', { name: heading, level: 1 }).waitFor();
    await ph.waitForLoadState('networkidle').catch(() => {});
    await noSidewaysScroll(ph, path);
  }
  // The update form with both folding sections open and on.
  await ph.goto(`/deploy?service=${SERVICE}`);
  await until('the update form to load the current spec', async () => (await ph.getByLabel('Max batch size').inputValue()) === '8');
  await ph.getByRole('button', { name: 'Autoscaling' }).click();
  await ph.getByRole('checkbox', { name: /Scale the replica count with the load/ }).check();
  await ph.getByLabel('Min replicas').fill('0');
  await ph.getByRole('button', { name: 'Canary' }).click();
  await ph.getByRole('checkbox', { name: /Roll each new revision out as a canary/ }).check();
  await ph.getByLabel('Max error rate (%)').waitFor();
  await noSidewaysScroll(ph, 'the update form with Autoscaling and Canary open');
  await ph.goto(`/service/${AUTO}`);
  await ph.getByTestId('autoscaling-settings').waitFor();
  await noSidewaysScroll(ph, 'an autoscaled service');
  await ph.goto(`/service/${SERVICE}`);
  await ph.getByRole('tab', { name: 'Overview', selected: true }).waitFor();
  for (const [id, label] of [['overview', 'Overview'], ['try', 'Try it'], ['revisions', 'Revisions'], ['requests', 'Requests'],
    ['events', 'Events'], ['logs', 'Logs'], ['api', 'Endpoint & code']]) {
    await ph.goto(`/service/${SERVICE}${id === 'overview' ? '' : `?tab=${id}`}`);
    const tab = ph.getByRole('tab', { name: label, selected: true });
    await tab.waitFor();
    await ph.getByRole('tabpanel').first().waitFor();
    await noSidewaysScroll(ph, `the service's ${label} tab`);
    // The chosen tab is in view in the scrolling tab strip.
    await until(`the ${label} tab to be in view`, async () => {
      const b = await tab.boundingBox();
      return b && b.x >= 0 && b.x + b.width <= 390 + 1;
    }, 5000, 200);
  }
  await shot('16-phone-service-endpoint', {}, ph);
  await phoneAdmin.close();

  step('sign out');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in to the console' }).waitFor();
  const after = await page.request.get('/api/v1/whoami');
  if (after.status() !== 401) throw new Error(`after sign-out /api/v1/whoami answered ${after.status()}, expected 401`);

  // The wrong key, the file:// refusal and sign-out answer 401/403 on purpose; the browser logs
  // those as failed loads. Anything else on the console is a bug.
  const relevant = consoleErrors.filter((e) => !/^Failed to load resource: the server responded with a status of 40[13]\b/.test(e));
  if (relevant.length) throw new Error(`the browser console has errors:\n    ${relevant.join('\n    ')}`);
  console.log(`journey passed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
} catch (e) {
  console.error(`journey FAILED at step "${stepName}": ${e.message}`);
  const out = resolve(root, 'web/e2e/out');
  await mkdir(out, { recursive: true });
  await page.screenshot({ path: `${out}/failure.png`, fullPage: true }).catch(() => {});
  console.error(`  screenshot of the failure: ${out}/failure.png`);
  if (consoleErrors.length) console.error(`  browser console errors:\n    ${consoleErrors.join('\n    ')}`);
  process.exitCode = 1;
} finally {
  if (traffic) await traffic.stop();
  await browser.close();
}
