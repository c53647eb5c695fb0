// boot.js: Pyodide with blazen_py installed, for blazen.js (which users import; this module
// is its part that boots, and imports nothing from it). From a memory snapshot when the
// build left one beside the runtime, else a normal boot with loadPackage.
//
// Everything loads from this module's own origin (./pyodide/ beside it and blazen.js)
// unless `indexURL` says otherwise.

import { BlazenError } from "./errors.js";

const MODULE_BASE = new URL("./", import.meta.url);

// What a page opened from a file:// URL must do instead (browsers refuse module scripts and
// fetch() there, so Pyodide could never load).
export const SERVE_HINT =
  "run `python build.py serve` and open http://127.0.0.1:8000/ (or serve dist/ with any static web server)";

/**
 * The runtime's folder as an absolute URL ending in "/": `indexURL` as given, resolved like
 * any URL of the page (against the document's base URL, a worker's location), or
 * ./pyodide/ beside this module.
 */
export function resolveIndexURL(indexURL) {
  if (indexURL === undefined || indexURL === null) return new URL("pyodide/", MODULE_BASE).href;
  if (typeof indexURL !== "string" && !(indexURL instanceof URL)) {
    throw new BlazenError(`init: indexURL must be a string or a URL, got ${indexURL === null ? "null" : typeof indexURL}`);
  }
  const base = globalThis.document?.baseURI ?? globalThis.location?.href ?? MODULE_BASE.href;
  let url;
  try {
    url = new URL(String(indexURL), base);
  } catch {
    throw new BlazenError(`init: indexURL ${JSON.stringify(String(indexURL))} is not a URL`);
  }
  if (!url.pathname.endsWith("/")) url.pathname += "/";
  return url.href;
}

// A classic worker (new Worker(url) without {type: "module"}) cannot import ES modules:
// Pyodide refuses to boot there. importScripts() with no URL does nothing in a classic
// worker and throws in a module worker.
function isClassicWorker() {
  if (typeof WorkerGlobalScope === "undefined" || typeof importScripts !== "function") return false;
  try {
    importScripts();
    return true;
  } catch {
    return false;
  }
}

function refuseUnusable() {
  if (isClassicWorker()) {
    throw new BlazenError(
      "blazen.js runs in a module Web Worker, not a classic one: create the worker with " +
        "new Worker(url, { type: 'module' }) and import blazen.js in it",
    );
  }
  refuseFileURL();
}

function refuseFileURL() {
  // Node has no location (and loads Pyodide from files, as it should): browsers only.
  if (globalThis.location?.protocol === "file:") {
    throw new BlazenError(
      `blazen.js must be served over HTTP, not opened from a file:// URL (the browser blocks ` +
        `loading the Python runtime from files): ${SERVE_HINT}`,
    );
  }
}

/**
 * Boot Pyodide from `options.indexURL` (default ./pyodide/ beside this module; a relative
 * URL is resolved against the page) and install
 * blazen_py, reporting each stage through `report(stage, progress, message)`. `snapshot:
 * false` always boots normally.
 */
export async function bootPyodide(options, report) {
  refuseUnusable();
  const indexURL = resolveIndexURL(options.indexURL);
  report("runtime", 0, "Loading the Python runtime");
  const snapshotWanted = options.snapshot !== false;
  // Everything the boot needs starts now, side by side (or started at import, for the default
  // indexURL): the manifest, and both halves of the runtime's code (pyodide.asm.mjs is what
  // builds the wasm module; see bootFromSnapshot).
  const started = early !== null && early.indexURL === indexURL && snapshotWanted ? early : null;
  if (started === null) early?.opened?.then((found) => found.stop?.abort()); // not this boot's
  early = null; // used once: a retry after a failed init() requests everything afresh
  const manifest = snapshotWanted ? (started?.manifest ?? fetchSnapshotManifest(indexURL)) : null;
  const factory = snapshotWanted ? (started?.factory ?? importFactory(indexURL)) : null;
  // The snapshot is fetched as soon as the manifest says where it is, not after the
  // runtime's module has loaded: its version is checked when it has.
  const opened =
    manifest === null ? null : (started?.opened ?? manifest.then((found) => openSnapshot(indexURL, found)));
  const { loadPyodide, version } = await import(new URL("pyodide.mjs", indexURL).href);
  let pyodide = null;
  const snapshot = usableSnapshot(opened === null ? null : await opened, version, report);
  if (snapshot !== null) pyodide = await bootFromSnapshot(loadPyodide, indexURL, snapshot, await factory, report);
  if (pyodide === null) {
    pyodide = await loadPyodide({ indexURL });
    report("package", 0.8, "Installing blazen_py");
    const problems = [];
    await pyodide.loadPackage("blazen-py", {
      messageCallback: () => {},
      errorCallback: (message) => problems.push(message),
    });
    if (problems.length) throw new BlazenError(`could not install blazen_py: ${problems.join("; ")}`);
  }
  return pyodide;
}

// -- started at import -----------------------------------------------------------------------
//
// A page that imports blazen.js calls init() next, most often with the default indexURL: the
// manifest and the runtime's two modules are requested at import, and bootPyodide uses them
// when its indexURL is that default and `snapshot` is not false (any other init ignores
// them, and stops the snapshot's fetches below). Nothing large is fetched before init()
// unless the page asked for it: a page whose <head> hints the manifest (the built pages,
// and pages with dist/preload-hints.html) has the snapshot opened as soon as the manifest
// arrives. That hint, and not one for the snapshot file itself, is what starts
// the ~6 MB download early: a preload of the file would request it on every visit, a reload
// too, where the Cache API's copy is used (openSnapshot reads that copy instead, and fetches
// nothing). None of these promises rejects (a failure is what bootPyodide would meet
// itself), so a page that never calls init() leaves nothing unhandled. (`early` is set at
// the end of this module, once the constants these fetches use are.) Only where a boot
// could run at all: a page or module worker served over http(s) (not Node, not a file://
// page).

function startEarly() {
  const served = (url) => url.protocol === "http:" || url.protocol === "https:";
  if (!served(MODULE_BASE) || !globalThis.location || !served(new URL(globalThis.location.href))) return null;
  const indexURL = resolveIndexURL(undefined);
  const runtime = import(new URL("pyodide.mjs", indexURL).href);
  runtime.catch(() => {}); // bootPyodide imports it again and meets the same error
  const manifest = fetchSnapshotManifest(indexURL);
  const opened = isHinted(new URL(SNAPSHOT_MANIFEST, indexURL))
    ? manifest.then((found) => openSnapshot(indexURL, found))
    : null;
  return { indexURL, manifest, factory: importFactory(indexURL), opened };
}

// Whether the page's <head> has a preload hint for `url`.
function isHinted(url) {
  const links = globalThis.document?.querySelectorAll?.('link[rel~="preload" i]') ?? [];
  return Array.from(links).some((link) => link.href === url.href);
}

// -- boot from a memory snapshot -------------------------------------------------------------
//
// `python build.py` makes the snapshot in headless Chromium: Pyodide with blazen_py imported,
// its non-zero blocks and the wheel's files in a small container (expandContainer), gzipped,
// named after a key of everything it depends on (Pyodide build, wheel). The container is
// kept in the Cache API under that key, so a new build never meets a stale copy, and old
// copies are deleted.

const SNAPSHOT_MANIFEST = "blazen-snapshot.json";
const SNAPSHOT_FORMAT = 3;
const SNAPSHOT_CACHE = "blazen-py-snapshot";
// A wasm32 memory holds at most 4 GiB; the snapshot is ~32 MiB.
const MAX_IMAGE = 2 ** 32;

// The Emscripten factory of the runtime (what loadPyodide would import itself), or null
// when it does not load: loadPyodide then imports it as usual and reports why.
async function importFactory(indexURL) {
  try {
    const factory = (await import(new URL("pyodide.asm.mjs", indexURL).href)).default;
    return typeof factory === "function" ? factory : null;
  } catch {
    return null;
  }
}

async function fetchSnapshotManifest(indexURL) {
  try {
    const response = await fetch(new URL(SNAPSHOT_MANIFEST, indexURL));
    return response.ok ? { manifest: await response.json() } : { reason: `no ${SNAPSHOT_MANIFEST} (HTTP ${response.status})` };
  } catch (error) {
    return { reason: `${SNAPSHOT_MANIFEST} unreadable: ${error.message}` };
  }
}

function reportFallback(report, reason) {
  report("fallback", 0.1, `Booting without the memory snapshot: ${reason}`);
  return null;
}

// Where the snapshot is, and the promise of its container's bytes, started at once; or
// {reason} when the manifest shows there is none to use.
// Checks that need the runtime's version wait for usableSnapshot.
function openSnapshot(indexURL, found) {
  if (found.manifest === undefined) return { reason: found.reason };
  const manifest = found.manifest;
  if (manifest === null || typeof manifest !== "object") return { reason: `${SNAPSHOT_MANIFEST} is not an object` };
  if (manifest.format !== SNAPSHOT_FORMAT) return { reason: `snapshot format ${manifest.format}, expected ${SNAPSHOT_FORMAT}` };
  if (typeof DecompressionStream !== "function") return { reason: "this browser has no DecompressionStream" };
  if (!Number.isSafeInteger(manifest.size) || manifest.size <= 0 || manifest.size > MAX_IMAGE) {
    return { reason: `snapshot size ${JSON.stringify(manifest.size)} is not a memory image's` };
  }
  const size = manifest.container_size;
  if (!Number.isSafeInteger(size) || size < CONTAINER_HEAD || size > MAX_IMAGE) {
    return { reason: `snapshot container size ${JSON.stringify(size)} is not a container's` };
  }
  let url;
  try {
    url = new URL(manifest.file, indexURL);
  } catch {
    return { reason: `${SNAPSHOT_MANIFEST} names no usable file` };
  }
  const stop = new AbortController(); // when the runtime turns out to be another version
  const packed = packedSnapshot(url, manifest, stop.signal);
  packed.catch(() => {}); // awaited later: a 404 may come while the runtime's code still loads
  return { url, manifest, packed, stop };
}

// The opened snapshot when this runtime can load it, else null (the fetches stopped, the
// reason reported).
function usableSnapshot(opened, version, report) {
  if (opened === null) return null;
  if (opened.reason !== undefined) return reportFallback(report, opened.reason);
  if (opened.manifest.pyodide !== version) {
    opened.stop.abort();
    return reportFallback(report, `made for Pyodide ${opened.manifest.pyodide}, this is ${version}`);
  }
  report("snapshot", 0.1, "Loading the memory snapshot");
  return opened;
}

// The container: from the Cache API when this build's copy is there, else fetched and
// gunzipped (the gzip trailer's CRC catches a damaged file).
async function packedSnapshot(url, manifest, signal) {
  const cache = await openCache();
  const key = cacheKey(url);
  const cached = cache && (await cache.match(key).catch(() => undefined));
  if (cached) {
    dropPreload(url); // at once: the sooner it is cancelled, the less of it is decoded
    const packed = new Uint8Array(await cached.arrayBuffer());
    if (packed.length === manifest.container_size) return { packed, cache: null };
    await cache.delete(key).catch(() => {});
  }
  // On a page that preloads the file, this request is given the preload's response.
  const response = await fetch(url, { signal });
  if (!response.ok) throw new Error(`${manifest.file}: HTTP ${response.status}`);
  try {
    return { packed: await containerBytes(response, manifest.container_size), cache };
  } catch (error) {
    throw new Error(`${manifest.file} is damaged (${error.message})`);
  }
}

// The container's bytes from the response. A host that sends Content-Encoding has had the
// browser decode the file off the main thread: the body is read whole, natively (no JS
// touches its ~250 chunks), and gunzipped here only if it still is gzip (a host that
// compressed the .gz once more). Otherwise (no such header, or one a cross-origin response
// does not show) the body is gunzipped as it streams in when it starts with gzip's magic.
// Either way it is read up to `limit` bytes (the manifest's container size): past it, damaged.
async function containerBytes(response, limit) {
  const encoding = response.headers.get("Content-Encoding");
  if (encoding === null || encoding.trim().toLowerCase() === "identity") {
    return readLimited(await gunzipped(response.body), limit);
  }
  const body = new Uint8Array(await response.arrayBuffer());
  return isGzip(body) ? decompressed(body, "gzip", limit) : body;
}

// `bytes` decompressed (a DecompressionStream format), at most `limit` bytes of it.
function decompressed(bytes, format, limit) {
  return readLimited(new Blob([bytes]).stream().pipeThrough(new DecompressionStream(format)), limit);
}

// A stream's bytes, refused once they pass `limit`: a damaged or hostile file cannot make
// a decompression run without end.
async function readLimited(stream, limit) {
  const reader = stream.getReader();
  const chunks = [];
  let length = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    length += value.length;
    if (length > limit) {
      reader.cancel().catch(() => {});
      throw new Error(`it inflates past ${limit} bytes`);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

function isGzip(head) {
  return head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
}

// -- the container ----------------------------------------------------------------------------
//
// What the page restores Python from: the memory image (its non-zero blocks; everything
// between them is zero) and the wheel's files, which are not in the image (Pyodide's file
// system lives in JS). Made by pack_container in blazen_build/snapshot.py. All integers are
// little-endian u32:
//
//   magic "BLZSNAP3", image size, block-run count R, file count F,
//   R x (offset, length), F x (name length, data length),
//   the runs' bytes in order, then each file's UTF-8 name and data in order.
//
// Every bound and every name is checked: a damaged or hostile file is an error here (the page
// then boots normally), never a bad image or a file written outside the working directory.

const CONTAINER_MAGIC = "BLZSNAP3";
const CONTAINER_HEAD = 20;

// Fill `image` (zeroed, of the manifest's size) from the container `packed`; return its
// files as [name, bytes] (views of `packed`).
function expandContainer(packed, manifest, image) {
  const damaged = (why) => new Error(`${manifest.file} is damaged (${why})`);
  if (packed.length < CONTAINER_HEAD) throw damaged("too short");
  const view = new DataView(packed.buffer, packed.byteOffset, packed.byteLength);
  if (new TextDecoder().decode(packed.subarray(0, 8)) !== CONTAINER_MAGIC) throw damaged("not a snapshot container");
  const size = view.getUint32(8, true);
  const runs = view.getUint32(12, true);
  const count = view.getUint32(16, true);
  if (size !== manifest.size) throw new Error(`${manifest.file} holds ${size} bytes, its manifest says ${manifest.size}`);
  const pair = (index) => [view.getUint32(CONTAINER_HEAD + 8 * index, true), view.getUint32(CONTAINER_HEAD + 8 * index + 4, true)];
  let position = CONTAINER_HEAD + 8 * (runs + count);
  if (position > packed.length) throw damaged("its tables are cut short");
  let end = 0;
  for (let index = 0; index < runs; index += 1) {
    const [offset, length] = pair(index);
    if (offset < end || offset + length > size || position + length > packed.length) throw damaged(`run ${index} out of bounds`);
    image.set(packed.subarray(position, position + length), offset);
    position += length;
    end = offset + length;
  }
  const names = new TextDecoder("utf-8", { fatal: true });
  const files = [];
  for (let index = 0; index < count; index += 1) {
    const [nameLength, length] = pair(runs + index);
    if (position + nameLength + length > packed.length) throw damaged(`file ${index} out of bounds`);
    let name;
    try {
      name = names.decode(packed.subarray(position, position + nameLength));
    } catch {
      throw damaged(`file ${index} is not named in UTF-8`);
    }
    if (!safeName(name)) throw damaged(`file ${index}: ${JSON.stringify(name)} is not a plain relative path`);
    position += nameLength;
    files.push([name, packed.subarray(position, position + length)]);
    position += length;
  }
  if (position !== packed.length) throw damaged("bytes left over after its files");
  return files;
}

// A relative path of a file, with no empty, "." or ".." part (what pack_container accepts).
function safeName(name) {
  const parts = name.split("/");
  return name.length > 0 && !name.includes("\\") && parts.every((p) => p !== "" && p !== "." && p !== "..");
}

// The files under Pyodide's working directory, where unpackArchive would have put them.
function writeFiles(FS, files) {
  const root = FS.cwd();
  for (const [name, data] of files) {
    const slash = name.lastIndexOf("/");
    if (slash > 0) FS.mkdirTree(`${root}/${name.slice(0, slash)}`);
    FS.writeFile(`${root}/${name}`, data);
  }
}

// A body the browser may not have decoded (see containerBytes): gunzipped here, as it
// streams in, only when it starts with gzip's magic bytes.
async function gunzipped(body) {
  const reader = body.getReader();
  const first = await reader.read();
  const head = first.done ? new Uint8Array(0) : first.value;
  const whole = new ReadableStream({
    start(controller) {
      if (head.length) controller.enqueue(head);
    },
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  return isGzip(head) ? whole.pipeThrough(new DecompressionStream("gzip")) : whole;
}

// A page that preloads the snapshot file (the hints no longer do; a hand-made or older
// <head> may) requests it on every visit, a reload too (its HTML cannot know that the Cache
// API has a copy, read faster and kept more surely than the HTTP cache's). When the copy is
// used, the preload is taken and cancelled: its decoding stops, and the browser does not
// warn of a preload left unused.
function dropPreload(url) {
  if (!isHinted(url)) return;
  fetch(url)
    .then((response) => response.body?.cancel())
    .catch(() => {});
}

function cacheKey(url) {
  return `${url.href}?decoded`;
}

async function openCache() {
  // The Cache API exists only in secure contexts (https, localhost, 127.0.0.1).
  if (typeof caches === "undefined") return null;
  return caches.open(SNAPSHOT_CACHE).catch(() => null);
}

// Keep this build's container, drop every other one; after boot, off the critical path.
async function rememberSnapshot(cache, url, packed) {
  const key = cacheKey(url);
  try {
    for (const request of await cache.keys()) if (request.url !== key) await cache.delete(request);
    await cache.put(key, new Response(packed, { headers: { "Content-Type": "application/octet-stream" } }));
  } catch {
    // Quota or a storage error: the next visit fetches the file again.
  }
}

// Pyodide keeps its loadPyodide options for the life of the page: give it the image through a
// thenable that lets go of it once taken, not a promise that would hold 30 MB forever.
function handOver(promise) {
  let source = promise;
  return {
    then(resolve, reject) {
      const taken = source;
      source = null;
      return taken === null ? resolve(undefined) : taken.then(resolve, reject);
    },
  };
}

// The module factory, handing the module back only once the image is filled: Pyodide
// restores the snapshot right after. The first failure (the module's, the image's) wins.
function whenFilled(factory, filled) {
  return async (settings) => (await Promise.all([factory(settings), filled]))[0];
}

function whenIdle(fn) {
  if (typeof requestIdleCallback === "function") requestIdleCallback(fn, { timeout: 5000 });
  else setTimeout(fn, 1000);
}

async function forgetSnapshot(url) {
  const cache = await openCache();
  if (cache) await cache.delete(cacheKey(url)).catch(() => {});
}

// Pyodide from the snapshot, or null (reported).
//
// loadPyodide awaits its `_loadSnapshot` before it builds the wasm module, and needs of it
// only its length (the memory's size) until the module is built. So it gets at once an
// image of the manifest's size, filled in place when the container has arrived and been
// expanded; the module factory (its documented `createPyodideModule` option) waits for
// that before handing the module back, and Pyodide restores the image only then. The wasm
// thus downloads and compiles while the snapshot downloads and is gunzipped, through
// Pyodide's own fetch and instantiateStreaming (one request, V8's code cache kept).
async function bootFromSnapshot(loadPyodide, indexURL, snapshot, factory, report) {
  let problem = null; // the snapshot's own failure (HTTP, damage) is reported as it is
  const image = new Uint8Array(snapshot.manifest.size);
  // The package's files (views of the container) until they are written. Not what `filled`
  // resolves to: Pyodide keeps the module factory, which holds `filled`, for good.
  let files = null;
  const filled = snapshot.packed.then((found) => {
    report("restore", 0.5, "Restoring Python from the memory snapshot");
    files = expandContainer(found.packed, snapshot.manifest, image);
  });
  filled.catch((error) => {
    problem = error.message;
  });
  // Without the factory (it did not load: loadPyodide says why) the image is given filled.
  const options =
    factory === null
      ? { indexURL, _loadSnapshot: handOver(filled.then(() => image)) }
      : { indexURL, _loadSnapshot: handOver(Promise.resolve(image)), createPyodideModule: whenFilled(factory, filled) };
  let instance;
  try {
    instance = await loadPyodide(options);
    // The file system is not in the image: put the package's files back before any import
    // can need them (lazily imported submodules, package metadata).
    await filled;
    writeFiles(instance.FS, files);
  } catch (error) {
    files = null;
    await forgetSnapshot(snapshot.url);
    return reportFallback(report, problem ?? `it did not load (${error.message})`);
  }
  files = null;
  const { packed, cache } = await snapshot.packed;
  // Storing 15 MB blocks the page for tens of ms: wait until it is idle (after the first run).
  if (cache) whenIdle(() => rememberSnapshot(cache, snapshot.url, packed));
  report("package", 0.8, "Booted from the memory snapshot");
  return instance;
}

// Last: what startEarly calls reads the constants above.
let early = startEarly();
