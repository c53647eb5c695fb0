// blazen-playwright.mjs: test your workflows with @playwright/test in a real Chromium.
//
// A Node module (not for pages), shipped in dist/testing/ beside the blazen.js whose in-page
// API it drives, so the two always match. Import `test` and `expect` from it instead of from
// '@playwright/test':
//
//   import { test, expect } from './dist/testing/blazen-playwright.mjs';
//   test('double', async ({ blazenPage }) => {
//     expect(await blazenPage.js(async ({ blazen, arg }) => arg * 2, 21)).toBe(42);
//   });
//
// Fixtures: `blazenSite` (worker: the dist/ folder served on 127.0.0.1, port chosen by the
// system), `blazenPage` (per test: a page of that site with blazen.js booted). Options
// (`use: {...}` in playwright.config or `test.use`): `blazenDist` (the folder served;
// default: the dist/ this file is in), `blazenMounts` ({prefix: folder}: your own files at
// /prefix/), `blazenSnapshot` (boot from the memory snapshot; default true).
// `findChromium()` and `CHROMIUM_ARGS` launch the Chromium build.py uses (never downloaded).
//
// What fails in the page (a throw, a failed run, an uncaught error, a wait that runs out)
// throws BlazenPageError with the page's own message and stack: it is the test's failure.

import { test as base, expect } from '@playwright/test';
import { accessSync, constants, createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { delimiter, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export { expect };

const DEFAULT_TIMEOUT_MS = 60_000;
const BOOT_TIMEOUT_MS = 180_000;
const BLANK_PATH = '/__blazen__/blank.html';
const BLANK_PAGE = '<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">'
  + '<title>blazen_py test page</title></head><body><p id="status">blazen_py test page</p></body></html>';

// -- Chromium: $BLAZEN_CHROMIUM, else the usual names on PATH (as blazen_py.testing finds it) --

const CHROMIUM_NAMES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];
/** Flags that keep Chromium quiet on a closed network. */
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  // no omnibox popup WebUI renderer for every new window (CPU the page under test needs)
  '--disable-features=WebUIOmniboxPopup'];

function which(name) {
  const candidates = name.includes('/') ? [name] : (process.env.PATH || '').split(delimiter).map((d) => join(d, name));
  for (const path of candidates) {
    try {
      accessSync(path, constants.X_OK);
      if (statSync(path).isFile()) return resolve(path);
    } catch { /* not this one */ }
  }
  return null;
}

/** The Chromium to launch: $BLAZEN_CHROMIUM, else chromium/google-chrome on PATH; throws when none. */
export function findChromium() {
  const configured = process.env.BLAZEN_CHROMIUM;
  if (configured) {
    const path = which(configured);
    if (!path) throw new Error(`BLAZEN_CHROMIUM=${configured} is not an executable`);
    return path;
  }
  for (const name of CHROMIUM_NAMES) {
    const path = which(name);
    if (path) return path;
  }
  throw new Error('no Chromium found: install one (Debian: apt-get install chromium) or point '
    + 'BLAZEN_CHROMIUM at a Chromium/Chrome executable (a browser is never downloaded)');
}

// -- the static server: a folder (plus mounts) on 127.0.0.1, with the MIME types Pyodide needs --

const MIME_TYPES = {
  '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm',
  '.whl': 'application/zip', '.zip': 'application/zip', '.json': 'application/json',
  '.map': 'application/json', '.html': 'text/html', '.css': 'text/css', '.png': 'image/png',
  '.svg': 'image/svg+xml', '.ts': 'text/plain', '.py': 'text/plain', '.txt': 'text/plain',
};

// The file a URL path names, or null: decoded, and never outside its folder.
function fileFor(urlPath, root, mounts) {
  let path;
  try {
    path = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (path.includes('\0')) return null;
  let folder = root;
  for (const [prefix, dir] of Object.entries(mounts)) {
    if (path.startsWith(`/${prefix}/`)) {
      folder = dir;
      path = path.slice(prefix.length + 1);
      break;
    }
  }
  const file = resolve(folder, `.${path}`);
  if (file !== folder && !file.startsWith(folder + sep)) return null;
  try {
    return statSync(file).isDirectory() ? join(file, 'index.html') : file;
  } catch {
    return null;
  }
}

/** Serve `folder` (and `mounts`, {prefix: folder}) on 127.0.0.1; resolves to {url, close()}. */
export async function serveSite(folder, mounts = {}) {
  const root = resolve(folder);
  if (!statSync(join(root, 'blazen.js'), { throwIfNoEntry: false })?.isFile()) {
    throw new Error(`${root} holds no blazen.js: blazenDist must name a built dist/ (python build.py)`);
  }
  const mounted = {};
  for (const [prefix, dir] of Object.entries(mounts)) {
    if (!/^[\w-]+(\/[\w-]+)*$/.test(prefix) || prefix.startsWith('__blazen__')) {
      throw new Error(`blazenMounts: ${JSON.stringify(prefix)} is not a plain URL prefix`);
    }
    if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`blazenMounts: ${dir} is not a folder`);
    mounted[prefix] = resolve(dir);
  }
  const server = createServer((request, response) => {
    const urlPath = new URL(request.url, 'http://127.0.0.1').pathname;
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405).end();
    } else if (urlPath === BLANK_PATH) {
      response.writeHead(200, { 'content-type': 'text/html' }).end(BLANK_PAGE);
    } else {
      const file = fileFor(urlPath, root, mounted);
      const size = file && statSync(file, { throwIfNoEntry: false })?.isFile() ? statSync(file).size : null;
      if (size === null) {
        response.writeHead(404).end();
        return;
      }
      response.writeHead(200, { 'content-type': MIME_TYPES[extname(file)] || 'application/octet-stream',
        'content-length': size, 'cache-control': 'no-cache' });
      if (request.method === 'HEAD') response.end();
      else createReadStream(file).pipe(response);
    }
  });
  await new Promise((ok, fail) => server.once('error', fail).listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    directory: root,
    close: () => new Promise((ok) => { server.closeAllConnections(); server.close(ok); }),
  };
}

// -- in the page: boot, and run code returning JSON (errors come back as data, with their stack) --

// Installed once per page load: boots blazen.js and keeps runs by id.
const BOOT = async ([snapshot]) => {
  if (!window.__blazenTest) {
    const blazen = await import(new URL('/blazen.js', location.href).href);
    const progress = [];
    const pyodide = await blazen.default({ snapshot, onProgress: (p) => progress.push(p.stage) });
    window.__blazenTest = { blazen, pyodide, progress, runs: new Map(), nextRun: 0 };
  }
  return window.__blazenTest.progress;
};

// The page-side runner: `kind` 'js' calls fn({blazen, pyodide, arg}) and returns its value;
// 'start' calls fn({blazen, pyodide}) for a Workflow and starts runWithHandler(input, options).
const RUNNER = `async (kind, fn, arg, options) => {
  const t = window.__blazenTest;
  const describe = (e) => ({ name: (e && e.name) || typeof e, message: String(e && e.message !== undefined ? e.message : e),
                             stack: String((e && e.stack) || e) });
  try {
    if (kind === 'js') {
      const value = await fn({ blazen: t.blazen, pyodide: t.pyodide, arg });
      return JSON.stringify({ ok: true, value: value === undefined ? null : value });
    }
    const workflow = await fn({ blazen: t.blazen, pyodide: t.pyodide });
    const handler = await workflow.runWithHandler(arg, options);
    const id = t.nextRun++;
    const run = { handler, items: [], ended: false, result: null, error: null };
    t.runs.set(id, run);
    handler.streamEvents((item) => { run.items.push(JSON.parse(JSON.stringify(item))); });
    handler.result().then(
      (r) => { run.result = r.data === undefined ? null : r.data; run.ended = true; },
      (e) => { run.error = describe(e); run.ended = true; });
    return JSON.stringify({ ok: true, value: { id, runId: handler.runId } });
  } catch (error) {
    return JSON.stringify({ ok: false, error: describe(error) });
  }
}`;

/** Something failed in the page; the message holds the page's own message and stack. */
export class BlazenPageError extends Error {
  name = 'BlazenPageError';
}

// A JS stack starts with its error's name and message: then it is the whole description.
const failure = (what, e) => new BlazenPageError(`${what} failed in the page: `
  + (e.stack.startsWith(`${e.name}: ${e.message}`) ? e.stack : `${e.name}: ${e.message}\n${e.stack}`));

/** A page of the site under test with blazen.js booted (the `blazenPage` fixture). */
export class BlazenPage {
  constructor(page, baseURL, snapshot = true) {
    this.page = page;
    this.baseURL = baseURL;
    this.snapshot = snapshot;
    this.bootStages = [];
    this.pageErrors = [];
    page.on('pageerror', (error) => this.pageErrors.push(error.stack || String(error)));
  }

  /** Throw BlazenPageError for the uncaught errors the page has thrown (once each). */
  checkErrors() {
    if (this.pageErrors.length) {
      const errors = this.pageErrors.splice(0);
      throw new BlazenPageError(`uncaught error(s) in the page:\n${errors.join('\n---\n')}`);
    }
  }

  /** Open `path` of the site (default: a blank page) and boot blazen.js there. */
  async goto(path = BLANK_PATH) {
    await this.page.goto(new URL(path.replace(/^\//, ''), this.baseURL).href);
    return this.boot();
  }

  /** Boot blazen.js in the current page (idempotent); waits for init() to resolve. */
  async boot() {
    this.page.setDefaultTimeout(BOOT_TIMEOUT_MS);
    try {
      this.bootStages = await this.page.evaluate(BOOT, [this.snapshot]);
    } catch (error) {
      this.checkErrors();
      throw new BlazenPageError(`booting blazen.js failed in the page: ${error.message}`);
    } finally {
      this.page.setDefaultTimeout(DEFAULT_TIMEOUT_MS);
    }
    this.checkErrors();
    return this;
  }

  // Call the page-side runner with a function of the test's source (sent as its text: it
  // runs in the page and sees only its argument, not the test's variables).
  async #call(kind, fn, arg, options) {
    if (typeof fn !== 'function') throw new TypeError('pass a function, e.g. async ({ blazen, arg }) => ...');
    const call = `(${RUNNER})(${JSON.stringify(kind)}, ${fn.toString()}, ${JSON.stringify(arg ?? null)}, ${JSON.stringify(options ?? null)})`;
    const out = JSON.parse(await this.page.evaluate(call));
    this.checkErrors();
    if (!out.ok) throw failure(kind === 'js' ? 'JS' : 'start', out.error);
    return out.value;
  }

  /** Run `fn({blazen, pyodide, arg})` (may be async) in the page; its value comes back through JSON. */
  js(fn, arg) {
    return this.#call('js', fn, arg);
  }

  /** Start `runWithHandler(input, options)` of the Workflow `fn({blazen, pyodide})` returns; a PageRun. */
  async start(fn, input, options) {
    const { id, runId } = await this.#call('start', fn, input ?? {}, options);
    return new PageRun(this, id, runId);
  }

  /** Poll `predicate(arg)` in the page until truthy; its value, or BlazenPageError naming `what`. */
  async wait(predicate, arg, timeout, what) {
    let handle;
    try {
      handle = await this.page.waitForFunction(predicate, arg, { timeout, polling: 20 });
    } catch (error) {
      this.checkErrors();
      if (error.name === 'TimeoutError') throw new BlazenPageError(`no ${what} within ${timeout / 1000} s`);
      throw error;
    }
    const value = await handle.jsonValue();
    await handle.dispose();
    this.checkErrors();
    return value;
  }
}

/** A run started with BlazenPage.start, kept in the page by id. */
export class PageRun {
  constructor(blazenPage, index, runId) {
    this.blazenPage = blazenPage;
    this.index = index;
    this.runId = runId;
  }

  async #state() {
    const state = await this.blazenPage.page.evaluate((i) => {
      const r = window.__blazenTest && window.__blazenTest.runs.get(i);
      return r ? JSON.stringify({ items: r.items, result: r.result, error: r.error }) : null;
    }, this.index);
    if (state === null) throw new BlazenPageError(`run ${this.runId} is gone from the page (was it reloaded?)`);
    return JSON.parse(state);
  }

  /** Every stream item so far. */
  async items() {
    return (await this.#state()).items;
  }

  /** The first stream item of `eventType`; a run that ends (or fails) without one throws. */
  async waitFor(eventType, { timeout = DEFAULT_TIMEOUT_MS } = {}) {
    await this.blazenPage.wait(([i, type]) => {
      const r = window.__blazenTest && window.__blazenTest.runs.get(i);
      return !r || r.ended || r.items.some((x) => x.eventType === type);
    }, [this.index, eventType], timeout, `${JSON.stringify(eventType)} stream item`);
    const { items, error } = await this.#state();
    const item = items.find((x) => x.eventType === eventType);
    if (item) return item;
    throw error ? failure(`run ${this.runId}`, error)
      : new BlazenPageError(`run ${this.runId} ended without a ${JSON.stringify(eventType)} item; `
        + `items: ${JSON.stringify(items.map((x) => x.eventType))}`);
  }

  /** The first InputRequested item (with its requestId and prompt). */
  waitForInput(options) {
    return this.waitFor('InputRequested', options);
  }

  /** Answer an input request with a JSON value. */
  async respond(requestId, response) {
    await this.blazenPage.page.evaluate(([i, id, value]) => {
      window.__blazenTest.runs.get(i).handler.respondToInput(id, value);
    }, [this.index, requestId, response]);
    this.blazenPage.checkErrors();
  }

  /** The run's result data; a failed run throws BlazenPageError with the page's message. */
  async result({ timeout = DEFAULT_TIMEOUT_MS } = {}) {
    await this.blazenPage.wait((i) => {
      const r = window.__blazenTest && window.__blazenTest.runs.get(i);
      return !r || r.ended;
    }, this.index, timeout, "run's end");
    const { result, error } = await this.#state();
    if (error) throw failure(`run ${this.runId}`, error);
    return result;
  }
}

// -- the fixtures --

export const test = base.extend({
  blazenDist: [fileURLToPath(new URL('..', import.meta.url)), { option: true, scope: 'worker' }],
  blazenMounts: [{}, { option: true, scope: 'worker' }],
  blazenSnapshot: [true, { option: true }],
  blazenSite: [async ({ blazenDist, blazenMounts }, use) => {
    const site = await serveSite(blazenDist, blazenMounts);
    await use(site);
    await site.close();
  }, { scope: 'worker' }],
  blazenPage: async ({ page, blazenSite, blazenSnapshot }, use) => {
    const blazenPage = new BlazenPage(page, blazenSite.url, blazenSnapshot);
    await blazenPage.goto();
    await use(blazenPage);
    blazenPage.checkErrors(); // an uncaught error noticed only at the end still fails the test
  },
});
