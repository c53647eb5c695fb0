// blazen.js: the WASM workflow SDK's API, over the blazen_py engine running in Pyodide.
//
//   import init, { Workflow, WorkflowBuilder, WorkflowHandler, ChatMessage, CompletionModel }
//     from './blazen.js';
//   await init();
//
// Everything loads from this module's own origin (./pyodide/ beside it) unless `indexURL`
// says otherwise. Python objects are named by integer ids across the boundary; the only
// PyProxies are the bridge's exported functions, made once (see blazen_py/_jsbridge.py).

import { bootPyodide } from "./boot.js";

let booting = null;
let py = null; // the bridge's exported functions

// -- errors -------------------------------------------------------------------------------
//
// The error classes are generated from the Python side's declaration (web/errors.js, from
// blazen_py/_boundary.py): the same names, the same hierarchy, the declared fields.

export * from "./errors.js";
import * as errors from "./errors.js";
import { BYTES_TAG, INT_TAG, MAP_TAG, META_SUFFIX } from "./codec.js";
import { RemoteHandler, useCodec } from "./remote.js";

export { RemoteHandler, reattach } from "./remote.js";

const { BlazenError, ModelError, SnapshotError, StateError, WorkflowDefinitionError } = errors;

function toError(info) {
  if (info === undefined || info === null) return new BlazenError("unknown error");
  const Kind = errors[info.name] ?? (info.model ? ModelError : BlazenError);
  let message = info.message;
  if (info.causeMessage && !message.includes(info.causeMessage)) message += ` (${info.causeMessage})`;
  return new Kind(message, info);
}

// -- calling Python -------------------------------------------------------------------------

// A sync export returns its value; an async one gets a fresh call id first and settles it
// later through helpers.resolveCall / helpers.rejectCall (see blazen_py/_boundary.py).
const waiters = new Map(); // call id -> [resolve, reject]
let nextCallId = 1;

function call(name, ...args) {
  try {
    return py[name](...args);
  } catch (error) {
    const info = py.take_last_error();
    throw info ? toError(info) : error;
  }
}

function callAsync(name, ...args) {
  return new Promise((resolve, reject) => {
    const callId = nextCallId++;
    waiters.set(callId, [resolve, reject]);
    try {
      py[name](callId, ...args);
    } catch (error) {
      waiters.delete(callId);
      const info = py.take_last_error();
      reject(info ? toError(info) : error);
    }
  });
}

// An async call that an AbortSignal may cancel (model calls given `{signal}`): the Python
// Task behind it is cancelled, which aborts its fetch.
function cancellable(signal, start) {
  if (signal === undefined || signal === null) return start();
  if (typeof signal.addEventListener !== "function" || typeof signal.aborted !== "boolean") {
    return Promise.reject(new BlazenError("options.signal must be an AbortSignal"));
  }
  const callId = nextCallId; // the id start() is about to take
  const promise = start();
  const cancel = () => py.call_cancel(callId);
  if (signal.aborted) cancel();
  else {
    signal.addEventListener("abort", cancel, { once: true });
    promise.finally(() => signal.removeEventListener("abort", cancel)).catch(() => {});
  }
  return promise;
}

// ctx.signal: one AbortController per ctx id, aborted when its run stops its steps.
const controllers = new Map();

function signalFor(ctxId) {
  let controller = controllers.get(ctxId);
  if (controller === undefined) {
    controller = new AbortController();
    controllers.set(ctxId, controller);
    call("ctx_signal", ctxId); // aborts it now if the run has already ended
  }
  return controller.signal;
}

function requireInit() {
  if (py === null) throw new BlazenError("call `await init()` before using blazen.js");
}

// -- what Python calls ------------------------------------------------------------------------

const helpers = {
  // Call a JS step. A sync result is answered (see answerResult); a Promise (or a throw)
  // answers later through py.settle, and undefined tells Python to wait for it. `event` is
  // a JS object, or the number of a flat event kept in lazyEvents.
  callStep(fn, event, ctxId, invocation) {
    if (typeof event === "number") event = lazyEvents.get(event);
    // One ctx per invocation: what it writes while its Promise is pending is known to
    // be this invocation's (a snapshot leaves out unfinished steps' writes).
    const ctx = new WasmContext(ctxId, invocation);
    let out;
    try {
      out = fn(event, ctx);
    } catch (error) {
      queueMicrotask(() => py.settle(invocation, error, false, describeThrown(error)));
      return undefined;
    }
    let then;
    try {
      then = out !== null && typeof out === "object" ? out.then : undefined;
    } catch (error) {
      // A revoked Proxy (or a throwing `then` getter) as the step's result.
      queueMicrotask(() => py.settle(invocation, error, false, describeThrown(error)));
      return undefined;
    }
    if (typeof then === "function") {
      try {
        then.call(
          out,
          // A flat event is kept under the invocation's number, as for a sync result, and
          // only its type crosses: py.settle(invocation, null, true, type).
          (value) => {
            const type = helpers.lazy && value !== null && typeof value === "object" ? flatEventType(value) : null;
            if (type === null) py.settle(invocation, value, true, null);
            else {
              lazyEvents.set(invocation, value);
              py.settle(invocation, null, true, type);
            }
          },
          (error) => py.settle(invocation, error, false, describeThrown(error)),
        );
      } catch (error) {
        queueMicrotask(() => py.settle(invocation, error, false, describeThrown(error)));
      }
      return undefined;
    }
    return answerResult(invocation, out, helpers.lazy && out !== null && typeof out === "object" ? flatEventType(out) : null);
  },
  // Call a pure step ({pure: true}: sync, no ctx) and, while `table` (a Map: event type ->
  // [step name, wrapped handler]) says its result goes to exactly one pure step, the next
  // one, at most `hops` steps in all. Only the first step's outcome is answered here: a
  // later step's outcome (its result, or what it threw) is kept on its input (memo),
  // which is answered as the first step's result; Python then routes that input to that
  // step, whose call takes the outcome from the memo. So every error names the failing
  // step and event, and every event leaving a chain is produced by the step that made it.
  // undefined: the first step threw (pureError, pureErrorText say what). Else the outcome
  // is answered as a sync step's (answerResult), under the number `ref`.
  callPure(fn, name, event, table, hops, ref) {
    if (typeof event === "number") event = lazyEvents.get(event);
    const memo = pureMemo.get(event);
    if (memo !== undefined && memo[0] === name) {
      pureMemo.delete(event);
      if (!memo[1]) return pureThrew(memo[2]);
      return answerResult(ref, memo[2], memo[3]);
    }
    helpers.pureHops = 0;
    let step = fn;
    let stepName = name;
    let input = event;
    let inputType = null;
    for (let hop = 0; ; hop++) {
      let out;
      try {
        out = step(input);
      } catch (error) {
        if (hop === 0) return pureThrew(error);
        pureMemo.set(input, [stepName, false, error, null]);
        helpers.pureHops = hop - 1;
        return answerResult(ref, input, inputType);
      }
      const type = out !== null && typeof out === "object" ? flatEventType(out) : null;
      if (hop === 0 && (type === null || hop + 1 >= hops || table === null || !table.has(type))) {
        return answerResult(ref, out, type);
      }
      const next = type !== null && hop + 1 < hops ? table.get(type) : undefined;
      if (next === undefined) {
        pureMemo.set(input, [stepName, true, out, type]);
        helpers.pureHops = hop - 1;
        return answerResult(ref, input, inputType);
      }
      [stepName, step] = next;
      input = out;
      inputType = type;
    }
  },
  pureError: undefined,
  pureErrorText: null,
  pureHops: 0, // how many steps the last chain ran after its first (whose outcome it answered)
  // Set by Python (the bridge's lazy-events switch): when on, a flat event a step returns
  // is kept in lazyEvents and only its type crosses (see answerResult).
  lazy: false,
  plainResult: null, // the string or boolean a step returned (answered as false)
  // The flat event kept under `ref` (Python converts it when it reads its fields).
  lazyEvent(ref) {
    return lazyEvents.get(ref);
  },
  // Python dropped the events of these numbers: let their objects go.
  releaseEvents(refs) {
    for (const ref of refs) lazyEvents.delete(ref);
  },
  // How many flat events are kept now (the bridge's tests check that it comes back down).
  lazyEventsKept() {
    return lazyEvents.size;
  },
  // A plain JS object that Pyodide's conversion does not take for one (it has an own
  // `constructor` key, say), as the codec's JSON text; null when it is no plain data.
  eventJson(value) {
    try {
      return refusedValue(value, "event", new Set(), 0) === null ? JSON.stringify(encodeState(value)) : null;
    } catch {
      return null;
    }
  },
  abortSignal(ctxId, reason) {
    const controller = controllers.get(ctxId);
    if (controller !== undefined) {
      controllers.delete(ctxId);
      controller.abort(new errors.WorkflowAbortedError(`the run stopped its steps (${reason})`, {}));
    }
  },
  resolveCall(callId, value) {
    const waiter = waiters.get(callId);
    if (waiter !== undefined) {
      waiters.delete(callId);
      waiter[0](value);
    }
  },
  rejectCall(callId, info) {
    const waiter = waiters.get(callId);
    if (waiter !== undefined) {
      waiters.delete(callId);
      waiter[1](toError(info));
    }
  },
};

// Flat events steps returned, by the number Python named them by (an invocation's), while
// Python holds a LazyJsEvent of that number: the object never becomes a JsProxy on the
// hot path (making one costs more than the rest of the call). Python releases the
// numbers of the events it dropped in batches (releaseEvents).
const lazyEvents = new Map();

// What a step's sync result crosses back as: with lazy events on, a flat event's type (a
// string; the event is kept under `ref`; `type` is flatEventType's), false for a string or
// boolean result (in plainResult: a string would pass for a type), else the value itself
// (undefined as null, the sign of "no event").
function answerResult(ref, out, type) {
  if (type !== null && helpers.lazy) {
    lazyEvents.set(ref, out);
    return type;
  }
  if (typeof out === "string" || typeof out === "boolean") {
    helpers.plainResult = out;
    return false;
  }
  return out === undefined ? null : out;
}

// -- pure steps ({pure: true}) -----------------------------------------------------------------

// An outcome a chain of pure steps already has for a step's input (see callPure):
// event object -> [step name, ok, value, type of value when a flat event].
const pureMemo = new WeakMap();

function pureThrew(error) {
  helpers.pureError = error;
  helpers.pureErrorText = describeThrown(error);
  return undefined;
}

// The ctx a pure step receives: any use of it throws, naming the step.
function pureContext(name) {
  const refuse = (what) => {
    throw new BlazenError(`step '${name}' is pure ({pure: true}): it cannot use ctx (${what})`);
  };
  return new Proxy(Object.freeze({}), {
    get: (_, key) => refuse(`it read ctx.${String(key)}`),
    set: (_, key) => refuse(`it set ctx.${String(key)}`),
    has: (_, key) => refuse(`it asked for ${String(key)} in ctx`),
    ownKeys: () => refuse("it listed ctx's keys"),
    defineProperty: (_, key) => refuse(`it defined ctx.${String(key)}`),
    deleteProperty: (_, key) => refuse(`it deleted ctx.${String(key)}`),
    getOwnPropertyDescriptor: (_, key) => refuse(`it inspected ctx.${String(key)}`),
  });
}

// A pure step's handler as the bridge calls it: (event) => result, refusing a Promise.
function pureHandler(name, handler) {
  const ctx = pureContext(name);
  return (event) => {
    const out = handler(event, ctx);
    if (out !== null && (typeof out === "object" || typeof out === "function") && typeof out.then === "function") {
      out.then(undefined, () => {}); // it will not be awaited: no unhandled rejection
      throw new BlazenError(
        `step '${name}' is pure ({pure: true}) but returned a Promise: a pure step is a sync function`,
      );
    }
    return out;
  };
}

// The type of `out` when it is a flat event Python may keep as a JsProxy and convert only
// when read: a plain object whose own values are strings, booleans, null or finite
// numbers (so the number rule holds without converting it), its `type` a non-empty
// string. Anything else (an array, a class instance, nested data, a Proxy whose traps
// throw, a throwing getter) is null: Python converts it whole, as before, with its errors.
// Each own value, the type included, is read exactly once, here.
function flatEventType(out) {
  try {
    if (Object.getPrototypeOf(out) !== Object.prototype) return null;
    let type = null;
    for (const key in out) {
      const value = out[key];
      const kind = typeof value;
      if (key === "type") {
        if (kind !== "string" || value === "") return null;
        type = value;
      } else if (kind === "number") {
        if (value - value !== 0) return null; // NaN and the infinities
      } else if (kind !== "string" && kind !== "boolean" && value !== null) return null;
    }
    return type;
  } catch {
    return null;
  }
}

// What a step threw, as text, whatever it is: an Error, a primitive, a Symbol, an object
// with no prototype or a throwing toString, a revoked Proxy. Never throws itself.
function describeThrown(value) {
  try {
    if (value === undefined) return "a non-Error value was thrown: undefined";
    if (value === null) return "a non-Error value was thrown: null";
    if (typeof value === "symbol") return `a non-Error value was thrown: ${value.toString()}`;
    if (typeof value !== "object" && typeof value !== "function") {
      return `a non-Error value was thrown: ${String(value)}`;
    }
    const message = value.message;
    const name = value.name;
    if (typeof message === "string") return typeof name === "string" ? `${name}: ${message}` : message;
    return `a non-Error value was thrown: ${String(value)}`;
  } catch {
    try {
      return `a non-Error value was thrown: ${Object.prototype.toString.call(value)}`;
    } catch {
      return "a non-Error value was thrown: an object that cannot be described (a revoked Proxy?)";
    }
  }
}

// -- init ---------------------------------------------------------------------------------------

/**
 * Boot Pyodide from this module's origin and install blazen_py. Idempotent: later calls
 * return the same promise (and apply a new `env`).
 *
 * When the build left a memory snapshot of an interpreter that has already imported
 * blazen_py beside the runtime (`blazen-snapshot.json`), boot from it: much faster than
 * starting Python. Any mismatch or load error falls back to a normal boot, and `onProgress`
 * says why (stage "fallback"). `snapshot: false` always boots normally.
 *
 * `fastLoop: true` installs `blazen_py.install_fast_loop()`: the page's asyncio callbacks run
 * from one ready queue, many per JS task (see docs/js-api.md); a later `init({fastLoop: true})`
 * installs it too. There is no `fastLoop: false` undo here (Python's `uninstall_fast_loop()` is).
 *
 * @param {{indexURL?: string, onProgress?: (p: {stage: string, progress: number, message: string}) => void,
 *          env?: Record<string, string>, snapshot?: boolean, fastLoop?: boolean}} [options]
 */
export default function init(options = {}) {
  for (const name of ["snapshot", "fastLoop"]) {
    if (options[name] !== undefined && typeof options[name] !== "boolean") {
      return Promise.reject(new BlazenError(`init: ${name} must be true or false, got ${typeof options[name]}`));
    }
  }
  if (booting === null) {
    booting = boot(options).catch((error) => {
      booting = null;
      throw error;
    });
  } else if (options.env || options.fastLoop) {
    booting = booting.then((instance) => {
      configure(options);
      return instance;
    });
  }
  return booting;
}

// What a later init() may still change: the environment, the fast loop.
function configure(options) {
  if (options.env) call("set_env", options.env);
  if (options.fastLoop) call("install_fast_loop");
}

async function boot(options) {
  const report = (stage, progress, message) => {
    if (typeof options.onProgress === "function") options.onProgress({ stage, progress, message });
  };
  const pyodide = await bootPyodide(options, report);
  report("bridge", 0.95, "Starting the engine");
  const bridge = pyodide.pyimport("blazen_py._jsbridge");
  const install = bridge.install;
  py = install(helpers);
  install.destroy();
  bridge.destroy();
  configure(options);
  report("ready", 1, "Ready");
  return pyodide;
}

// -- values ---------------------------------------------------------------------------------------

function b64ToBytes(text) {
  const raw = atob(text);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

// `obj[key] = value` for the one key where assignment would set the prototype instead.
function ownProperty(obj, key, value) {
  Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
}

// Decode the state codec's JSON (its BYTES_TAG, INT_TAG and MAP_TAG forms), top down.
// Every key becomes an own data property: `__proto__` stays a key, never the prototype.
function decode(value) {
  if (Array.isArray(value)) return value.map(decode);
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === BYTES_TAG) return b64ToBytes(value[BYTES_TAG]);
    if (keys.length === 1 && keys[0] === INT_TAG) return BigInt(value[INT_TAG]);
    const body = keys.length === 1 && keys[0] === MAP_TAG ? value[MAP_TAG] : value;
    const out = {};
    for (const key of Object.keys(body)) {
      if (key === "__proto__") ownProperty(out, key, decode(body[key]));
      else out[key] = decode(body[key]);
    }
    return out;
  }
  return value;
}

function bytesToB64(bytes) {
  let raw = "";
  for (let i = 0; i < bytes.length; i += 0x8000) raw += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(raw);
}

// A StateValue (already checked by refusedValue) as the state codec's JSON data: the
// inverse of decode. Object keys are read as own data (`constructor`, `__proto__` too).
function encodeState(value) {
  if (value === undefined) return null;
  if (typeof value === "bigint") {
    return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= -BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(value) : { [INT_TAG]: value.toString() };
  }
  if (value === null || typeof value !== "object") return value;
  if (value instanceof Uint8Array) return { [BYTES_TAG]: bytesToB64(value) };
  if (Array.isArray(value)) return Array.from(value, encodeState);
  const body = {};
  let tagged = false;
  for (const key of Object.keys(value)) {
    const item = value[key];
    if (item === undefined) continue; // as JSON leaves it out
    if (key.startsWith("$")) tagged = true;
    if (key === "__proto__") ownProperty(body, key, encodeState(item));
    else body[key] = encodeState(item);
  }
  return tagged ? { [MAP_TAG]: body } : body;
}

useCodec(decode, encodeState); // remote handlers read and write values as this page does

// What ctx.set refuses, named, before anything crosses to Python (which would turn typed
// arrays into bytes and Maps into objects, and recurse forever on a cycle). Returns the
// problem's description, or null for a StateValue.
const where = (path) => `state value at '${path}'`;

function refusedValue(value, path, ancestors, depth) {
  switch (typeof value) {
    case "number":
      return Number.isFinite(value) ? null : `${where(path)} is ${value}: only finite numbers can be stored`;
    case "string": case "boolean": case "bigint":
      return null;
    case "undefined":
      return null; // an absent field, as JSON has it
    case "symbol": case "function":
      return `${where(path)} is a JS ${typeof value}, which cannot be persisted`;
  }
  if (value === null) return null;
  if (value instanceof Uint8Array) return value.constructor === Uint8Array ? null : `${where(path)} is a JS ${value.constructor.name}, which state does not hold (store a Uint8Array)`;
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer || value instanceof Map || value instanceof Set ||
      value instanceof WeakMap || value instanceof WeakSet || (typeof SharedArrayBuffer !== "undefined" && value instanceof SharedArrayBuffer)) {
    const name = Object.prototype.toString.call(value).slice(8, -1);
    return `${where(path)} is a JS ${name}, ` +
      "which state does not hold (store a Uint8Array for binary data, a plain object for a Map)";
  }
  if (depth > 200) return `${where(path)} is nested more than 200 levels deep`;
  if (ancestors.has(value)) return `${where(path)} is cyclic (it contains itself)`;
  ancestors.add(value);
  try {
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const found = refusedValue(value[i], `${path}[${i}]`, ancestors, depth + 1);
        if (found) return found;
      }
      return null;
    }
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      let name = "object of a class";
      try {
        name = Object.prototype.toString.call(value).slice(8, -1);
        if (name === "Object" && typeof proto.constructor === "function") name = proto.constructor.name || name;
      } catch {}
      return `${where(path)} is a JS ${name}, which cannot be persisted: store plain data in ctx.state ` +
        "(objects, arrays, strings, numbers, booleans, null, Uint8Array), or keep live objects in ctx.session";
    }
    for (const key of Object.keys(value)) {
      const found = refusedValue(value[key], `${path}.${key}`, ancestors, depth + 1);
      if (found) return found;
    }
    return null;
  } finally {
    ancestors.delete(value);
  }
}

// -- BlazenState ------------------------------------------------------------------------------
//
// Stored metadata names a registered class by its registration key and lists field names,
// nothing else: what runs on rebuild (the constructor, meta.restore, meta.storeBy) comes from
// the registered class. Python validates every metadata entry before JS sees it.

const stateClasses = new Map(); // registration key -> class
const stateKeys = new Map(); // class -> registration key
const PLAIN = "Object"; // the key of plain objects marked __blazen_state__
const FORBIDDEN_FIELDS = new Set(["__proto__", "constructor", "prototype"]);

function fieldProblem(name) {
  if (typeof name !== "string" || name === "") return `a field name must be a non-empty string`;
  if (name.includes(".")) return `field name '${name}' holds a '.'`;
  if (name.startsWith("__") && name.endsWith("__")) return `field name '${name}' is a dunder name`;
  if (FORBIDDEN_FIELDS.has(name)) return `field name '${name}' is reserved`;
  return null;
}

/**
 * Register a BlazenState class so `ctx.get` can rebuild its instances, in particular in a
 * fresh page that resumes a snapshot. `key` (default: the class's name) is what stored
 * metadata names; give one when two classes share a name. Registering a key again replaces
 * its class. Classes are also registered (under their name) when an instance is stored,
 * which refuses to take a name another class holds.
 */
export function registerStateClass(cls, key = undefined) {
  if (typeof cls !== "function") throw new StateError("registerStateClass takes a class");
  const name = key === undefined ? cls.name : key;
  if (typeof name !== "string" || name === "" || name === PLAIN) {
    throw new StateError(`registerStateClass: the key must be a non-empty string other than '${PLAIN}', got ${String(name)}`);
  }
  const old = stateClasses.get(name);
  if (old !== undefined && old !== cls) stateKeys.delete(old);
  stateClasses.set(name, cls);
  stateKeys.set(cls, name);
  return cls;
}

function keyOf(cls) {
  const known = stateKeys.get(cls);
  if (known !== undefined) return known;
  const other = stateClasses.get(cls.name);
  if (other !== undefined && other !== cls) {
    throw new StateError(
      `another class is registered as '${cls.name}'; register this one with its own key: ` +
        `registerStateClass(${cls.name}, 'some.key')`,
    );
  }
  registerStateClass(cls);
  return cls.name;
}

function classConfig(cls) {
  const meta = (cls && cls.meta) || {};
  return { transient: new Set(meta.transient || []), storeBy: meta.storeBy || {}, restore: meta.restore ?? null };
}

const decomposing = new Set(); // objects being decomposed now: a field may hold another

function decompose(ctx, id, invocation, key, obj) {
  if (decomposing.has(obj)) throw new StateError(`BlazenState object at '${key}' contains itself (a cycle)`);
  if (decomposing.size >= MAX_NESTING) {
    throw new StateError(`BlazenState objects at '${key}' are nested more than ${MAX_NESTING} deep`);
  }
  decomposing.add(obj);
  try {
    decomposeFields(ctx, id, invocation, key, obj);
  } finally {
    decomposing.delete(obj);
  }
}

function decomposeFields(ctx, id, invocation, key, obj) {
  // The class from the prototype chain, never an own `constructor` field.
  const proto = Object.getPrototypeOf(obj);
  const ctor = proto === null ? null : proto.constructor;
  const cls = typeof ctor === "function" && ctor !== Object ? ctor : null;
  const classKey = cls ? keyOf(cls) : PLAIN;
  const { transient, storeBy } = classConfig(cls);
  const fields = [];
  for (const field of Object.keys(obj)) {
    if (field === "__blazen_state__" || transient.has(field)) continue;
    const problem = fieldProblem(field);
    if (problem) throw new StateError(`BlazenState object at '${key}': ${problem}`);
    const fieldKey = `${key}.${field}`;
    const store = Object.hasOwn(storeBy, field) ? storeBy[field] : null;
    if (store) store.save(fieldKey, obj[field], ctx);
    else ctx.set(fieldKey, obj[field]);
    fields.push(field);
  }
  call("ctx_set_meta", id, invocation, key, JSON.stringify({ class: `js:${classKey}`, fields }));
}

const MAX_NESTING = 64;

function reassemble(ctx, key, meta, depth) {
  // `meta` was validated by Python ({class, fields}: unique names, no dots or dunders).
  const classKey = typeof meta.class === "string" && meta.class.startsWith("js:") ? meta.class.slice(3) : null;
  if (classKey === null) {
    throw new StateError(`cannot rebuild the BlazenState object at '${key}': it was stored by Python (${String(meta.class)})`);
  }
  if (depth >= MAX_NESTING) throw new StateError(`BlazenState objects at '${key}' are nested more than ${MAX_NESTING} deep`);
  let obj;
  let cls = null;
  if (classKey === PLAIN) {
    obj = {};
  } else {
    cls = stateClasses.get(classKey);
    if (!cls) {
      throw new StateError(
        `cannot rebuild the BlazenState object at '${key}': class '${classKey}' is not ` +
          `registered in this page; call registerStateClass(YourClass${classKey.includes(".") ? `, '${classKey}'` : ""}) first`,
      );
    }
    try {
      obj = new cls();
    } catch {
      obj = Object.create(cls.prototype);
    }
  }
  const { transient, storeBy, restore } = classConfig(cls);
  for (const field of meta.fields) {
    const problem = fieldProblem(field);
    if (problem) throw new StateError(`the BlazenState metadata of '${key}': ${problem}`);
    if (transient.has(field)) throw new StateError(`the BlazenState metadata of '${key}' lists transient field '${field}'`);
    const fieldKey = `${key}.${field}`;
    const store = Object.hasOwn(storeBy, field) ? storeBy[field] : null;
    const value = store ? store.load(fieldKey, ctx) : ctx._read(fieldKey, null, depth + 1);
    Object.defineProperty(obj, field, { value, writable: true, enumerable: true, configurable: true });
  }
  obj.__blazen_state__ = true;
  if (restore) {
    if (typeof obj[restore] !== "function") {
      throw new StateError(`${classKey} has no method '${restore}' named by its meta.restore`);
    }
    obj[restore]();
  }
  return obj;
}

// -- context ------------------------------------------------------------------------------------

/** The `ctx` a step receives. All methods are synchronous except `requestInput`. */
class WasmContext {
  #id;
  #invocation;
  #info = null;
  #state = null;
  #session = null;

  constructor(id, invocation) {
    this.#id = id;
    this.#invocation = invocation;
  }

  /**
   * Store a StateValue; Uint8Array is stored as binary, BlazenState objects field by field.
   * Refused with StateError: NaN and infinities, cycles, typed arrays other than
   * Uint8Array, ArrayBuffer, DataView, Map, Set, functions, symbols, live objects.
   */
  set(key, value) {
    if (typeof key !== "string") throw new StateError(`state keys are strings, got ${key === null ? "null" : typeof key}`);
    if (key.endsWith(META_SUFFIX)) {
      throw new StateError(`state key '${key}' ends with '${META_SUFFIX}', which the BlazenState protocol reserves`);
    }
    if (value !== null && typeof value === "object" && value.__blazen_state__ === true) {
      decompose(this, this.#id, this.#invocation, key, value);
      return;
    }
    const problem = refusedValue(value, key, new Set(), 0);
    if (problem) throw new StateError(problem);
    // As the codec's JSON text, not through Pyodide's conversion: every key (an own
    // `constructor` or `__proto__` included) stays plain data, every integer exact.
    call("ctx_set", this.#id, this.#invocation, key, JSON.stringify(encodeState(value)));
  }

  /**
   * The stored value (a copy), a rebuilt BlazenState object, or `defaultValue` (null if
   * not given) when the key is missing or holds null; `state.has(key)` tells them apart.
   * Keys are flat: 'user.name' is one key, not a path into 'user'.
   */
  get(key, defaultValue = null) {
    return this._read(key, defaultValue, 0);
  }

  /** @private ctx.get, `depth` BlazenState objects deep. */
  _read(key, defaultValue, depth) {
    const found = call("ctx_get", this.#id, key);
    if (found === undefined || found === null) return defaultValue;
    const value = decode(JSON.parse(found.slice(1)));
    if (found[0] === "M") return reassemble(this, key, value, depth);
    return value === null ? defaultValue : value;
  }

  /** Store binary data explicitly. */
  setBytes(key, data) {
    call("ctx_set_bytes", this.#id, this.#invocation, key, data);
  }

  /** The binary data stored at key (a Uint8Array), or `defaultValue` (null) when missing. */
  getBytes(key, defaultValue = null) {
    const data = call("ctx_get_bytes", this.#id, key);
    return data === null || data === undefined ? defaultValue : data;
  }

  /**
   * Queue an event now, before whatever this step returns. `options.step`: deliver it to
   * that step only (UnknownStepError if there is no such step or it does not accept it).
   * Under a retry policy it is held back until this attempt succeeds (a failed attempt's
   * events are dropped).
   */
  sendEvent(event, options = null) {
    call("ctx_send", this.#id, this.#invocation, event, options);
  }

  /**
   * Fan-in: buffer `event` until one event of each type in `types` has arrived for this
   * step, then return them in the listed order (otherwise null). List a type twice to
   * wait for two. The buffer is run state: snapshots hold it, resume continues it.
   */
  collectEvents(event, types) {
    return call("ctx_collect", this.#id, this.#invocation, event, types);
  }

  /**
   * Wait for an event of `type` (with the `where` fields equal) from another step or from
   * handler.sendEvent; resolves with it (the waiter takes it: no step gets it). Rejects
   * with WaitTimeoutError after `timeout` seconds. Durable: after a pause or a reload the
   * step runs again and waits again, for the rest of its deadline, and an event sent while
   * paused is kept for it.
   */
  waitForEvent(type, options = null) {
    return callAsync("ctx_wait_for_event", this.#id, this.#invocation, type, options);
  }

  /** A durable sleep: the deadline is saved, so a resumed run sleeps only the rest. */
  sleep(seconds) {
    return callAsync("ctx_sleep", this.#id, this.#invocation, seconds);
  }

  /** Which attempt this is: 1, then 2, 3... as the step's retry policy tries it again. */
  get attempt() {
    return this.retryInfo().attempt;
  }

  /**
   * {attempt, maxAttempts, lastError: {name, message} | null, nextDelay}: nextDelay is the
   * seconds before another attempt if this one fails (before jitter), null on the last.
   */
  retryInfo() {
    return call("ctx_retry_info", this.#id, this.#invocation);
  }

  /** Put an event on the run's stream without routing it. */
  writeEventToStream(event) {
    call("ctx_write", this.#id, event);
  }

  /** Ask the host for input; resolves with the value given to handler.respondToInput. */
  requestInput(prompt, metadata = null) {
    return callAsync("ctx_request_input", this.#id, prompt, metadata);
  }

  /**
   * An AbortSignal that aborts when the run is aborted, times out, fails, or is ended by
   * its first StopEvent. Pass it to fetch (and to model calls: `{signal: ctx.signal}`).
   */
  get signal() {
    return signalFor(this.#id);
  }

  /**
   * runAgent, durably: each completed model turn and tool result is kept in the run, so a
   * run resumed after a reload goes on after the last completed one (no completed model or
   * tool call runs again). Tools with `needsApproval: true` (or a predicate) wait for a
   * durable input request ('InputRequested', metadata {kind: 'tool_approval', tool,
   * arguments}); answer true, false or {approved, reason}. Options as runAgent's, but
   * onEvent and approve: turns and tool calls go on the run's stream.
   */
  runAgent(model, messages, tools, options = null) {
    const [specs, callTool, needs] = agentTools(tools);
    return callAsync(
      "ctx_run_agent", this.#id, this.#invocation, modelId(model), plainMessages(messages),
      specs, callTool, needs, options,
    );
  }

  /** The run's id (a UUID v4). */
  runId() {
    return this.#describe()[0];
  }

  /** The workflow's name. */
  get workflowName() {
    return this.#describe()[1];
  }

  /** Persistable values: the same store as set/get. */
  get state() {
    if (this.#state === null) this.#state = new StateNamespace(this, this.#id, this.#invocation);
    return this.#state;
  }

  /** Live JS values: identity preserved, never persisted. */
  get session() {
    if (this.#session === null) this.#session = new SessionNamespace(this.#id);
    return this.#session;
  }

  #describe() {
    if (this.#info === null) this.#info = call("ctx_info", this.#id);
    return this.#info;
  }
}

class StateNamespace {
  #ctx;
  #id;
  #invocation;
  constructor(ctx, id, invocation) {
    this.#ctx = ctx;
    this.#id = id;
    this.#invocation = invocation;
  }
  set(key, value) { this.#ctx.set(key, value); }
  get(key, defaultValue = null) { return this.#ctx.get(key, defaultValue); }
  setBytes(key, data) { this.#ctx.setBytes(key, data); }
  getBytes(key, defaultValue = null) { return this.#ctx.getBytes(key, defaultValue); }
  delete(key) { call("state_delete", this.#id, this.#invocation, key); }
  has(key) { return call("ctx_get", this.#id, key) != null; }
  keys() { return call("state_keys", this.#id); }
}

class SessionNamespace {
  #id;
  constructor(id) {
    this.#id = id;
  }
  set(key, value) { call("session_set", this.#id, key, value); }
  get(key, defaultValue = null) {
    const value = call("session_get", this.#id, key);
    return value === null || value === undefined ? defaultValue : value;
  }
  has(key) { return call("session_has", this.#id, key); }
  delete(key) { call("session_delete", this.#id, key); }
  keys() { return call("session_keys", this.#id); }
}

// -- workflows ----------------------------------------------------------------------------------

const dropWorkflow = new FinalizationRegistry((id) => py && py.workflow_drop(id));
const dropHandler = new FinalizationRegistry((id) => py && py.handler_drop(id));

function isClass(value) {
  return typeof value === "function" && /^class[\s{]/.test(Function.prototype.toString.call(value));
}

/** A named set of steps that react to events. */
export class Workflow {
  #id;
  #name;

  constructor(name) {
    requireInit();
    this.#name = name;
    this.#id = call("workflow_new", name, null, "continue");
    dropWorkflow.register(this, this.#id);
  }

  /** A new WorkflowBuilder. */
  static builder(name) {
    return new WorkflowBuilder(name);
  }

  /** A fresh Workflow from a builder (same as builder.build()). */
  static fromBuilder(builder) {
    return builder.build();
  }

  get name() {
    return this.#name;
  }

  /**
   * Add a step: `handler(event, ctx)` may be sync or async and returns an event, an array
   * of events (fan-out) or undefined. `options`: {emits, timeout, maxConcurrency, retry, pure}.
   * `pure: true` declares a sync step that uses no ctx (see docs/js-api.md, pure steps).
   * `retry`: {maxAttempts, initialDelay, maxDelay, backoff: 'exponential' | 'linear' |
   * 'fixed', jitter, retryOn}, seconds; `retryOn` is a list of error names or
   * `(error) => boolean`. `timeout` then counts per attempt.
   */
  addStep(name, eventTypes, handler, options = null) {
    if (typeof handler !== "function") {
      throw new WorkflowDefinitionError(`step '${name}': handler must be a function`);
    }
    const pure = options !== null && typeof options === "object" && options.pure === true;
    call("workflow_add_step", this.#id, name, eventTypes, pure ? pureHandler(name, handler) : handler, options);
    return this;
  }

  /**
   * Add a step that runs the workflow `child` (its own state and run id). `options.input`
   * maps the parent event to the child's start input (default: its fields);
   * `options.output(result, event)` maps the child's result ({data, runId, ...}) and the
   * parent event to the next event(s) (default: a StopEvent with the child's data);
   * `options.timeout` bounds the child. The child's stream items reach the parent's
   * stream with `path`; snapshots of the parent hold the child's run.
   */
  addSubworkflowStep(name, eventTypes, child, options = null) {
    if (!(child instanceof Workflow)) {
      throw new WorkflowDefinitionError(`step '${name}': child must be a Workflow`);
    }
    const { input = null, output = null, ...rest } = options ?? {};
    call("workflow_add_subworkflow_step", this.#id, name, eventTypes, child.#id, input, output, rest);
    return this;
  }

  /**
   * Add a step that runs the workflows `children` at once, each with its own state and run
   * id, all from `options.input(event)` (default: the event's fields). With
   * `options.join` "all" (default) `options.output(results, event)` gets the results
   * ({data, runId, ...}) in `children` order; with "first" it gets the first one and the
   * others are aborted (their `ctx.signal` fires). A child's failure is the step's;
   * snapshots hold each child's run: resume runs only the unfinished ones.
   */
  addParallelSubworkflows(name, eventTypes, children, options = null) {
    if (!Array.isArray(children) || children.length === 0) {
      throw new WorkflowDefinitionError(`step '${name}': children must be a non-empty array of Workflows`);
    }
    const ids = children.map((child, i) => {
      if (!(child instanceof Workflow)) {
        throw new WorkflowDefinitionError(`step '${name}': children[${i}] must be a Workflow`);
      }
      return child.#id;
    });
    const { input = null, output = null, ...rest } = options ?? {};
    call("workflow_add_parallel_subworkflows", this.#id, name, eventTypes, ids, input, output, rest);
    return this;
  }

  /**
   * Add a step that runs `child` once per item of `options.items(event)` (an object item
   * is the child's start input, any other value arrives as {item: value}), at most
   * `options.concurrency` (8) at once. `options.output(results, event)` gets the results
   * ({data, runId, ...}) in item order (default: a StopEvent with their data). Snapshots
   * hold the items done and the running children: resume runs only the rest.
   */
  addMapStep(name, eventTypes, child, options = null) {
    if (!(child instanceof Workflow)) {
      throw new WorkflowDefinitionError(`step '${name}': child must be a Workflow`);
    }
    const { items = null, output = null, ...rest } = options ?? {};
    if (typeof items !== "function") {
      throw new WorkflowDefinitionError(`step '${name}': options.items must be a function (event) => array`);
    }
    call("workflow_add_map_step", this.#id, name, eventTypes, child.#id, items, output, rest);
    return this;
  }

  /** The retry policy of every step without its own (`null` removes it); see addStep. */
  setRetryPolicy(policy) {
    call("workflow_set_retry_policy", this.#id, policy ?? null);
    return this;
  }

  /** Limit each run to `seconds` (null: no limit). */
  setTimeout(seconds) {
    call("workflow_set_timeout", this.#id, seconds);
    return this;
  }

  /** 'continue' (default: session dropped on pause) or 'pause' (kept until resume). */
  setSessionPausePolicy(policy) {
    call("workflow_set_policy", this.#id, policy);
    return this;
  }

  /** Let session values matching `match` (a class or predicate) go into snapshots as bytes. */
  registerSerializableRef(typeTag, match, serialize) {
    const predicate = isClass(match) ? (value) => value instanceof match : match;
    call("workflow_register_ref", this.#id, typeTag, predicate, serialize);
    return this;
  }

  /** Static checks from declared `emits`: a list of {kind, message, step, eventType}. */
  validate() {
    return call("workflow_validate", this.#id);
  }

  /**
   * Run to the end; resolves to {data, runId, type, event}. `options.checkpoint`: 'indexeddb' (or
   * {store: name}) makes the run durable, as with runWithHandler.
   */
  run(input = {}, options = null) {
    return callAsync("workflow_run", this.#id, input ?? null, options);
  }

  /**
   * Run, calling `callback(event)` synchronously for every stream item ({eventType, ...}).
   * `options.spans: true` adds the span items of every step invocation
   * ('blazen::StepStarted' / 'blazen::StepFinished'), as a timeline needs.
   */
  runStreaming(input, callback, options = null) {
    if (typeof callback !== "function") throw new BlazenError("runStreaming needs a callback");
    return callAsync("workflow_run_streaming", this.#id, input ?? null, callback, options);
  }

  /**
   * Start a run in the background; resolves to its WorkflowHandler.
   * `options.checkpoint: 'indexeddb'` (or {store: name}) makes it durable: a snapshot is
   * saved to IndexedDB before the first step runs (this resolves after that save), after
   * steps complete, and deleted when the run ends; the run holds its Web Lock until then. After a
   * reload, `unfinishedRuns()` lists such runs and `resumeCheckpoint(runId)` continues
   * one; steps that were running run again (at-least-once). `options.spans: true` puts
   * step span items on the handler's stream (see runStreaming).
   */
  async runWithHandler(input = {}, options = null) {
    return new WorkflowHandler(await callAsync("workflow_run_with_handler", this.#id, input ?? null, options));
  }

  /**
   * This workflow's unfinished durable runs: [{runId, createdAt, status}], oldest first;
   * `createdAt` in milliseconds since the epoch, as JS times are (`new Date(createdAt)`). An entry that cannot be resumed (unreadable, not a valid snapshot, stored under a key
   * other than its run id, a created_at that is not a number) is skipped and reported:
   * `options.onBad(error)` gets a BadCheckpointError with its `key` (default:
   * console.warn). One bad entry never hides the others.
   */
  async unfinishedRuns(options = null) {
    const onBad = options?.onBad;
    if (onBad !== undefined && typeof onBad !== "function") throw new BlazenError("onBad must be a function");
    const { onBad: _, ...rest } = options ?? {};
    const found = await callAsync("workflow_checkpoints", this.#id, rest);
    for (const info of found.bad) {
      const error = toError(info);
      if (onBad) onBad(error);
      else console.warn(`blazen.js: skipping checkpoint: ${error.message}`);
    }
    return found.runs;
  }

  /**
   * Continue a durable run from its checkpoint; resolves to its WorkflowHandler.
   * One owner per run: the run's Web Lock (navigator.locks) is taken first, so a second
   * tab (or a second call in this page) resuming the same run rejects with RunOwnedError
   * and runs nothing; `options.wait: seconds` (or `true`: no limit) waits for the owner
   * instead (once that owner finished the run, its checkpoint is gone: SnapshotError).
   * The browser releases a closed or crashed tab's locks.
   */
  async resumeCheckpoint(runId, options = null) {
    return new WorkflowHandler(await callAsync("workflow_resume_checkpoint", this.#id, runId, options));
  }

  /** Resume a snapshot (object or JSON text) in this page; resolves to a WorkflowHandler. */
  resume(snapshot, options = null) {
    return this.resumeWithSerializableRefs(snapshot, null, options);
  }

  /**
   * Resume a snapshot, rebuilding session refs with `{TypeTag: (bytes) => value}`.
   * `options.allowDefinitionChange: true` resumes a snapshot taken by this workflow with
   * other steps (refused by default, see docs/snapshot-format.md).
   */
  async resumeWithSerializableRefs(snapshot, deserializers, options = null) {
    const text = snapshotText(snapshot);
    return new WorkflowHandler(
      await callAsync("workflow_resume", this.#id, text, deserializers ?? null, options),
    );
  }
}

// A snapshot object as JSON text: what is not JSON (a BigInt, a cycle, a function) is
// refused here, with the reason, as a SnapshotError.
function snapshotText(snapshot) {
  if (typeof snapshot === "string") return snapshot;
  if (snapshot === null || typeof snapshot !== "object" || Array.isArray(snapshot)) {
    throw new SnapshotError(`a snapshot is a JSON object or its text, got ${snapshot === null ? "null" : Array.isArray(snapshot) ? "an array" : typeof snapshot}`);
  }
  try {
    return JSON.stringify(snapshot, (key, value) => {
      if (typeof value === "bigint") throw new SnapshotError(`snapshot field '${key}' is a BigInt, which snapshot JSON does not hold`);
      if (typeof value === "number" && !Number.isFinite(value)) throw new SnapshotError(`snapshot field '${key}' is ${value}`);
      return value;
    });
  } catch (error) {
    if (error instanceof SnapshotError) throw error;
    throw new SnapshotError(`the snapshot object is not JSON data: ${describeThrown(error)}`);
  }
}

/** Collects steps and settings; every build() gives a fresh Workflow. */
export class WorkflowBuilder {
  #name;
  #steps = [];
  #timeout = null;
  #policy = "continue";
  #refs = [];
  #retry = null;

  constructor(name) {
    this.#name = name;
  }

  get name() {
    return this.#name;
  }

  addStep(name, eventTypes, handler, options = null) {
    this.#steps.push([name, eventTypes, handler, options]);
    return this;
  }

  setTimeout(seconds) {
    this.#timeout = seconds;
    return this;
  }

  setSessionPausePolicy(policy) {
    if (policy !== "continue" && policy !== "pause") {
      throw new WorkflowDefinitionError(`session pause policy must be 'continue' or 'pause', got '${policy}'`);
    }
    this.#policy = policy;
    return this;
  }

  registerSerializableRef(typeTag, match, serialize) {
    this.#refs.push([typeTag, match, serialize]);
    return this;
  }

  setRetryPolicy(policy) {
    this.#retry = policy ?? null;
    return this;
  }

  build() {
    const wf = new Workflow(this.#name);
    for (const step of this.#steps) wf.addStep(...step);
    if (this.#timeout !== null) wf.setTimeout(this.#timeout);
    wf.setSessionPausePolicy(this.#policy);
    for (const ref of this.#refs) wf.registerSerializableRef(...ref);
    if (this.#retry !== null) wf.setRetryPolicy(this.#retry);
    return wf;
  }
}

/** Control of a run in the background (from runWithHandler / resume). */
export class WorkflowHandler {
  #id;

  /** @hideconstructor */
  constructor(id) {
    requireInit();
    this.#id = id;
    dropHandler.register(this, id);
  }

  get runId() {
    return call("handler_info", this.#id).runId;
  }

  get workflowName() {
    return call("handler_info", this.#id).workflowName;
  }

  /** 'running', 'paused', 'completed' or 'failed'. */
  get status() {
    return call("handler_info", this.#id).status;
  }

  /** Call `callback` for every stream item from the start; resolves when the run ends. */
  streamEvents(callback) {
    return callAsync("handler_stream", this.#id, callback);
  }

  /**
   * Put an event into the run from outside: routed now if it runs, queued until resume
   * (and in its snapshot) if it is paused. `options.step`: deliver it to that step only.
   */
  sendEvent(event, options = null) {
    call("handler_send", this.#id, event, options);
  }

  /** Answer an input request by id. */
  respondToInput(requestId, response) {
    call("handler_respond", this.#id, requestId, response);
  }

  /** Capture the run (a JSON-compatible object) without stopping it. */
  async snapshot(metadata = null) {
    return JSON.parse(await callAsync("handler_snapshot", this.#id, metadata));
  }

  /** Stop dispatching, let running steps finish, resolve to a snapshot. */
  async pause(metadata = null) {
    return JSON.parse(await callAsync("handler_pause", this.#id, metadata));
  }

  /** Resume a paused run in this page. */
  resumeInPlace() {
    return callAsync("handler_resume_in_place", this.#id);
  }

  /** Cancel the run; result() then rejects with WorkflowAbortedError. */
  abort() {
    call("handler_abort", this.#id);
  }

  /**
   * Pause the run, send its snapshot to a blazen_py.server at `url` and follow it there:
   * resolves to a RemoteHandler (streamEvents, respondToInput, result, abort). `options`:
   * {token}. A durable run's local checkpoint goes once the server has the run. If the
   * server refuses (RemoteError: status, errorType) the run stays paused in this page.
   */
  async handOff(url, options = {}) {
    const remote = new RemoteHandler(url, this.runId, options);
    const snapshot = this.status === "paused" ? await this.snapshot() : await this.pause();
    await remote.continueFrom(snapshot);
    await callAsync("handler_discard_checkpoint", this.#id);
    return remote;
  }

  /** Resolves to {data, runId, type, event} when the run completes; may be awaited many times. */
  result() {
    return callAsync("handler_result", this.#id);
  }
}

// -- models ---------------------------------------------------------------------------------------

/** Chat messages in the OpenAI chat format. */
export class ChatMessage {
  constructor(role, content, extra = {}) {
    this.role = role;
    this.content = content;
    Object.assign(this, extra);
  }
  static system(content) { return new ChatMessage("system", content); }
  static user(content) { return new ChatMessage("user", content); }
  static assistant(content) { return new ChatMessage("assistant", content); }
  static tool(content, toolCallId) { return new ChatMessage("tool", content, { tool_call_id: toolCallId }); }
}

const dropModel = new FinalizationRegistry((id) => py && py.model_drop(id));
const modelIds = new WeakMap(); // CompletionModel -> its Python model's id

function modelId(model) {
  const id = modelIds.get(model);
  if (id === undefined) throw new ModelError("model must be a CompletionModel");
  return id;
}

/**
 * A chat model behind an OpenAI-compatible endpoint. The API key is read from the runtime
 * environment (`init({env})`), never passed here.
 */
export class CompletionModel {
  #id;

  /** @hideconstructor */
  constructor(provider, options) {
    requireInit();
    this.#id = provider === null ? options : call("model_new", provider, options ?? null);
    dropModel.register(this, this.#id);
    modelIds.set(this, this.#id);
  }

  /** OpenRouter: OPENROUTER_API_KEY; options {model, baseUrl, timeout, maxRetries, ...}. */
  static openrouter(options = {}) {
    return new CompletionModel("openrouter", options);
  }

  /** OpenAI: OPENAI_API_KEY. */
  static openai(options = {}) {
    return new CompletionModel("openai", options);
  }

  /** Any OpenAI-compatible server: {baseUrl, model, apiKeyEnv?}. */
  static openaiCompatible(options) {
    return new CompletionModel("openaiCompatible", options);
  }

  /**
   * `model`, keeping a copy of each of its exchanges in `cassette` (requests still go out;
   * no API key or auth header is recorded). Keep `cassette.toJSON()` for replay.
   */
  static record(model, cassette) {
    if (!(cassette instanceof Cassette)) throw new ModelError("CompletionModel.record(model, cassette) needs a Cassette");
    return new CompletionModel(null, call("model_record", modelId(model), cassetteIds.get(cassette)));
  }

  /**
   * A model answering from a cassette only (a Cassette, or its JSON data or text, checked as
   * hostile): no network, no key. A request with no recording rejects with
   * CassetteMismatchError, naming it.
   */
  static replay(cassette) {
    const tape = cassette instanceof Cassette ? cassette : Cassette.fromJSON(cassette);
    return new CompletionModel(null, call("model_replay", cassetteIds.get(tape)));
  }

  /**
   * Resolves to {content, model, usage, finishReason, id, toolCalls, cost}. `options.signal`:
   * an AbortSignal (e.g. ctx.signal) that aborts the request.
   */
  complete(messages, options = null) {
    const [signal, rest] = splitSignal(options);
    return cancellable(signal, () => callAsync("model_complete", this.#id, plainMessages(messages), rest));
  }

  /** Streams: onChunk({delta, index}) per piece; resolves to the whole response. */
  stream(messages, onChunk, options = null) {
    const [signal, rest] = splitSignal(options);
    return cancellable(signal, () => callAsync("model_stream", this.#id, plainMessages(messages), onChunk, rest));
  }
}

function splitSignal(options) {
  if (options === null || typeof options !== "object" || !("signal" in options)) return [null, options];
  const { signal, ...rest } = options;
  return [signal, rest];
}

const dropCassette = new FinalizationRegistry((id) => py && py.cassette_drop(id));
const cassetteIds = new WeakMap();

/** Recorded model calls (see CompletionModel.record / replay). */
export class Cassette {
  constructor(text = null) {
    requireInit();
    const id = call("cassette_new", text);
    cassetteIds.set(this, id);
    dropCassette.register(this, id);
  }

  /** A cassette from its JSON data or text (checked: a malformed one throws CassetteError). */
  static fromJSON(data) {
    return new Cassette(typeof data === "string" ? data : JSON.stringify(data));
  }

  /** The recorded exchanges as JSON data (what fromJSON reads). */
  toJSON() {
    return JSON.parse(call("cassette_dump", cassetteIds.get(this)));
  }
}

// -- agents -----------------------------------------------------------------------------------

// The tools' declarations cross as data; their handlers stay here, called by index. A
// handler's value crosses back as JSON text, so nothing live reaches Python.
function agentTools(tools) {
  if (!Array.isArray(tools)) throw new BlazenError("tools must be an array of {name, description, parameters, handler}");
  const specs = tools.map((tool, index) => {
    if (tool === null || typeof tool !== "object") throw new BlazenError(`tool ${index} must be an object`);
    if (typeof tool.handler !== "function") throw new BlazenError(`tool '${tool.name}': handler must be a function`);
    const rule = tool.needsApproval;
    if (rule !== undefined && typeof rule !== "boolean" && typeof rule !== "function") {
      throw new BlazenError(`tool '${tool.name}': needsApproval must be a boolean or a function`);
    }
    return {
      name: tool.name,
      description: tool.description ?? "",
      parameters: tool.parameters ?? null,
      needsApproval: typeof rule === "function" ? "predicate" : rule === true,
    };
  });
  const callTool = async (index, argsJson) => {
    try {
      const value = await tools[index].handler(JSON.parse(argsJson));
      return { ok: true, json: JSON.stringify(value === undefined ? null : value) };
    } catch (error) {
      const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      return { ok: false, error: text };
    }
  };
  const needs = (index, argsJson) => tools[index].needsApproval(JSON.parse(argsJson));
  return [specs, callTool, needs];
}

/**
 * Run a tool-calling agent: ask the model, run the tools it calls, repeat until it answers
 * without tool calls. A tool is {name, description, parameters (JSON Schema), handler(args)}
 * (sync or async; returns a value, or {data, llmOverride}); arguments are validated against
 * the schema before the handler runs, and a failure (bad arguments, a throw, an unknown tool)
 * goes back to the model as the tool's result. Options: {toolConcurrency (0: no limit),
 * maxIterations = 10 (then MaxIterationsError), systemPrompt, temperature, maxTokens,
 * addFinishTool, onChunk (stream each turn), onEvent (each turn and tool call), approve(name,
 * args) (for tools with needsApproval)}. Resolves to {content, messages, iterations,
 * totalUsage, totalCost, toolResults, finishReason}.
 */
export function runAgent(model, messages, tools, options = null) {
  requireInit();
  const [specs, callTool, needs] = agentTools(tools);
  return callAsync("agent_run", modelId(model), plainMessages(messages), specs, callTool, needs, options);
}

/**
 * Structured output through a single-purpose tool: resolves to the model's arguments to it,
 * validated against `schema`. Options: {maxAttempts = 3, systemPrompt, temperature, maxTokens}.
 */
export function extract(model, messages, schema, options = null) {
  requireInit();
  return callAsync("agent_extract", modelId(model), plainMessages(messages), schema, options);
}

function plainMessages(messages) {
  if (!Array.isArray(messages)) throw new ModelError("messages must be an array of ChatMessage");
  return messages.map((message) => ({ ...message }));
}
