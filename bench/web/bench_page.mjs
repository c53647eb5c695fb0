// The Chromium side of the benchmarks, loaded by bench/web/bench.html from the bench
// server (dist/ at /, bench/ at /bench/, @llama-flow/core's browser build at /bench/vendor/).
// bench/run.py drives it with Playwright: boot(), pythonSuite(), jsSuite(), snapshotSuite(),
// soak(). Every function takes and returns plain JSON-able values.
import init, { Workflow } from "/blazen.js";
import { createWorkflow, getContext, workflowEvent } from "/bench/vendor/llama-flow-core/index.js";

const START = "blazen::StartEvent";
const STOP = "blazen::StopEvent";
const RUN_TIMEOUT_MS = 60_000;

let pyodide = null;
let workloads = null;

async function snapshotCached(timeoutMs = 30_000) {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const cache = await caches.open("blazen-py-snapshot");
    if ((await cache.keys()).length > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`the memory snapshot was not cached within ${timeoutMs} ms`);
}

/** Boot blazen.js (and so Pyodide) and load bench/workloads.py into Pyodide. */
export async function boot() {
  const started = performance.now();
  const stages = [];
  pyodide = await init({ onProgress: ({ stage }) => stages.push(stage) });
  const bootMs = performance.now() - started;
  // Booted from the memory snapshot, blazen.js stores its 30 MB in the Cache API once the
  // page is idle: let that happen now, and the browser write it to disk, not in the middle
  // of a timed run.
  if (stages.includes("snapshot")) {
    await snapshotCached();
    await new Promise((resolve) => setTimeout(resolve, 3000));
  }
  const source = await (await fetch("/bench/workloads.py")).text();
  pyodide.FS.mkdirTree("/home/pyodide/bench");
  pyodide.FS.writeFile("/home/pyodide/bench/bench_workloads.py", source);
  pyodide.runPython("import sys; sys.path.insert(0, '/home/pyodide/bench')");
  workloads = pyodide.pyimport("bench_workloads");
  return {
    boot_ms: bootMs,
    pyodide: pyodide.version,
    python: pyodide.runPython("import platform; platform.python_version()"),
    userAgent: navigator.userAgent,
    gc: typeof globalThis.gc === "function",
    preciseMemory: Boolean(performance.memory),
  };
}

/** blazen_py's Python-step workloads inside this page's Pyodide (bench/workloads.py). */
export async function pythonSuite(config) {
  return JSON.parse(await workloads.run_suite_json(JSON.stringify(config)));
}

/** Snapshot, JSON, IndexedDB save/load and resume per state size (bench/workloads.py). */
export async function snapshotSuite(config) {
  return JSON.parse(await workloads.snapshot_suite_json(JSON.stringify(config)));
}

/** The longest gap (ms) between consecutive stamps in [t0, t1], the ends included. */
function longestGap(stamps, t0, t1) {
  let last = t0;
  let gap = 0;
  for (const t of stamps) {
    if (t < t0 || t > t1) continue;
    gap = Math.max(gap, t - last);
    last = t;
  }
  return Math.max(gap, t1 - last);
}

/**
 * Responsiveness: during one long run of each kind (bench/workloads.py long_run; the
 * suspending one also with blazen_py.install_fast_loop()), stamp
 * every animation frame and every tick of a setTimeout(0) chain; the longest gaps say how
 * long the page was frozen at worst.
 */
export async function responsiveness(config) {
  const records = [];
  const runs = [["loop", config.events], ["loop_suspend", config.suspensions], ["loop_suspend_fast", config.suspensions]];
  for (const [name, events] of runs) {
    const frames = [];
    const ticks = [];
    let on = true;
    const frame = () => {
      frames.push(performance.now());
      if (on) requestAnimationFrame(frame);
    };
    const tick = () => {
      ticks.push(performance.now());
      if (on) setTimeout(tick, 0);
    };
    requestAnimationFrame(frame);
    setTimeout(tick, 0);
    await new Promise((resolve) => setTimeout(resolve, 100)); // both running before the run
    const t0 = performance.now();
    const result = await workloads.long_run(name, events);
    const t1 = performance.now();
    on = false;
    if (result !== events) throw new Error(`long run ${name}: ${result}, expected ${events}`);
    records.push({
      name,
      events,
      seconds: (t1 - t0) / 1000,
      frame_gap_ms: longestGap(frames, t0, t1),
      tick_gap_ms: longestGap(ticks, t0, t1),
      frames: frames.filter((t) => t >= t0 && t <= t1).length,
    });
  }
  return { records };
}

// -- JS-step workloads ----------------------------------------------------------------------
// Each factory returns {events, expected, run}; run() resolves to the run's result.
// Joins count in a closure reset per run (the same for both engines).

const handler = (isAsync, fn) => (isAsync ? async (...args) => fn(...args) : fn);

const blazen = {
  loop(n, isAsync) {
    const wf = new Workflow("bench-loop");
    wf.addStep("ping", [START, "Pong"], handler(isAsync, (e) => ({ type: "Ping", i: (e.i ?? 0) + 1 })));
    wf.addStep("pong", ["Ping"], handler(isAsync, (e) => {
      const i = e.i + 1;
      return i >= n ? { type: STOP, result: i } : { type: "Pong", i };
    }));
    return { events: n, expected: n, run: async () => (await wf.run({})).data };
  },
  fanout(n, isAsync) {
    let done = 0;
    const wf = new Workflow("bench-fanout");
    wf.addStep("split", [START], handler(isAsync, () => {
      const out = new Array(n);
      for (let i = 0; i < n; i++) out[i] = { type: "Work", i };
      return out;
    }));
    wf.addStep("work", ["Work"], handler(isAsync, (e) => ({ type: "Done", i: e.i })));
    wf.addStep("join", ["Done"], handler(isAsync, () => (++done === n ? { type: STOP, result: done } : undefined)));
    return { events: 2 * n + 1, expected: n, run: async () => { done = 0; return (await wf.run({})).data; } };
  },
  chain(n, isAsync) {
    const wf = new Workflow("bench-chain");
    for (let i = 0; i < n; i++) {
      const out = i === n - 1 ? { type: STOP, result: n } : { type: `E${i + 1}` };
      wf.addStep(`s${i}`, [i === 0 ? START : `E${i}`], handler(isAsync, () => ({ ...out })));
    }
    return { events: n, expected: n, run: async () => (await wf.run({})).data };
  },
};

async function runFlow(wf, start, stop) {
  const { stream, sendEvent } = wf.createContext();
  sendEvent(start);
  const events = await stream.until(stop).toArray();
  return events.at(-1).data;
}

const llamaFlow = {
  loop(n, isAsync) {
    const start = workflowEvent(), ping = workflowEvent(), pong = workflowEvent(), stop = workflowEvent();
    const wf = createWorkflow();
    const onPing = handler(isAsync, (e) => ping.with(e.data + 1));
    wf.handle([start], onPing);
    wf.handle([pong], onPing);
    wf.handle([ping], handler(isAsync, (e) => {
      const i = e.data + 1;
      return i >= n ? stop.with(i) : pong.with(i);
    }));
    return { events: n, expected: n, run: () => runFlow(wf, start.with(0), stop) };
  },
  fanout(n, isAsync) {
    let done = 0;
    const start = workflowEvent(), work = workflowEvent(), finished = workflowEvent(), stop = workflowEvent();
    const wf = createWorkflow();
    wf.handle([start], handler(isAsync, () => {
      const { sendEvent } = getContext();
      for (let i = 0; i < n; i++) sendEvent(work.with(i));
    }));
    wf.handle([work], handler(isAsync, (e) => finished.with(e.data)));
    wf.handle([finished], handler(isAsync, () => (++done === n ? stop.with(done) : undefined)));
    return { events: 2 * n + 1, expected: n, run: () => { done = 0; return runFlow(wf, start.with(), stop); } };
  },
  chain(n, isAsync) {
    const kinds = Array.from({ length: n + 1 }, () => workflowEvent());
    const wf = createWorkflow();
    for (let i = 0; i < n; i++) {
      const last = i === n - 1;
      wf.handle([kinds[i]], handler(isAsync, () => (last ? kinds[n].with(n) : kinds[i + 1].with())));
    }
    return { events: n, expected: n, run: () => runFlow(wf, kinds[0].with(), kinds[n]) };
  },
};

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function timeOnce(workload, what) {
  if (typeof globalThis.gc === "function") globalThis.gc();
  const started = performance.now();
  const result = await withTimeout(Promise.resolve().then(workload.run), RUN_TIMEOUT_MS, what);
  const elapsed = (performance.now() - started) / 1000;
  if (result !== workload.expected) throw new Error(`${what}: result ${result}, expected ${workload.expected}`);
  return elapsed;
}

// The same ping-pong loop with its steps declared {pure: true} (chained in JS) and not,
// and its floor: the two handlers called in a plain JS loop, no engine at all.
const pingStep = (e) => ({ type: "Ping", i: (e.i ?? 0) + 1 });
const pongStep = (n) => (e) => {
  const i = e.i + 1;
  return i >= n ? { type: STOP, result: i } : { type: "Pong", i };
};
const PURE_ENGINES = {
  "blazen.js (pure steps)": (n) => pureLoop(n, { pure: true }),
  "blazen.js": (n) => pureLoop(n, null),
  "bare JS calls (floor)": (n) => {
    const pong = pongStep(n);
    const run = async () => {
      let e = {};
      for (;;) {
        e = pong(pingStep(e));
        if (e.type === STOP) return e.result;
      }
    };
    return { events: n, expected: n, run };
  },
};

function pureLoop(n, options) {
  const wf = new Workflow("bench-pure-loop");
  wf.addStep("ping", [START, "Pong"], pingStep, options);
  wf.addStep("pong", ["Ping"], pongStep(n), options);
  return { events: n, expected: n, run: async () => (await wf.run({})).data };
}

// blazen.js with lazy JS events off (the bridge's private switch): the design before
// issue 24, measured beside the current one in the same page, run by run.
let setLazy = null;
const eager = Object.fromEntries(
  Object.entries(blazen).map(([kind, make]) => [
    kind,
    (n, isAsync) => {
      const workload = make(n, isAsync);
      const run = async () => {
        setLazy ??= pyodide.pyimport("blazen_py._jsbridge")._set_lazy_events; // kept for the page's life
        setLazy(false);
        try {
          return await workload.run();
        } finally {
          setLazy(true);
        }
      };
      return { ...workload, run };
    },
  ]),
);

const ENGINES = { "blazen.js": blazen, "blazen.js (eager events)": eager, "@llama-flow/core": llamaFlow };

/**
 * JS-step workloads on blazen.js and @llama-flow/core, sync and async handlers, the
 * engines interleaved run by run. A case that throws (the peer's sync handlers recurse
 * and can overflow the stack) is recorded with its error instead of samples.
 */
export async function jsSuite(config) {
  const { sizes, runs, warmup } = config;
  // loop_short: a loop short enough for the peer's recursive sync dispatch not to overflow.
  const cases = [
    ["loop", "loop", sizes.loop],
    ["loop_short", "loop", Math.max(10, Math.floor(sizes.loop / 4))],
    ["fanout_small", "fanout", sizes.fanout_small],
    ["fanout_large", "fanout", sizes.fanout_large],
    ["chain", "chain", sizes.chain],
  ];
  // Warm every workload up, then take the samples round by round over all of them: a burst
  // of noise then spreads over every row instead of filling one short row's few ms.
  const records = [];
  const timed = [];
  for (const mode of ["sync", "async"]) {
    for (const [name, kind, n] of cases) {
      for (const [engine, factory] of Object.entries(ENGINES)) {
        const workload = factory[kind](n, mode === "async");
        const record = { name: `${name}_${mode}`, engine, events: workload.events, samples: [] };
        try {
          for (let i = 0; i < warmup; i++) await timeOnce(workload, `${engine} ${record.name}`);
          timed.push([workload, record]);
        } catch (error) {
          record.error = `${error && error.name}: ${error && error.message}`.slice(0, 200);
        }
        records.push(record);
      }
    }
  }
  // Pure steps at the loop's size and the large fan-out's (1,000 and 10,000 events).
  for (const n of [sizes.loop, sizes.fanout_large]) {
    for (const [engine, make] of Object.entries(PURE_ENGINES)) {
      const workload = make(n);
      const record = { name: `pure_loop_${n}`, engine, events: workload.events, samples: [] };
      try {
        for (let i = 0; i < warmup; i++) await timeOnce(workload, `${engine} ${record.name}`);
        timed.push([workload, record]);
      } catch (error) {
        record.error = `${error && error.name}: ${error && error.message}`.slice(0, 200);
      }
      records.push(record);
    }
  }
  for (let r = 0; r < runs; r++) {
    for (const [workload, record] of timed) {
      if (record.error) continue;
      try {
        record.samples.push(await timeOnce(workload, `${record.engine} ${record.name}`));
      } catch (error) {
        record.error = `${error && error.name}: ${error && error.message}`.slice(0, 200);
      }
    }
  }
  return { records };
}

// -- memory soak --------------------------------------------------------------------------------

async function settle() {
  for (let i = 0; i < 3; i++) {
    if (typeof globalThis.gc === "function") globalThis.gc();
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

async function memory() {
  await settle();
  pyodide.runPython("import gc; gc.collect()");
  return {
    wasm_bytes: pyodide._module.HEAP8.buffer.byteLength,
    js_heap_bytes: performance.memory ? performance.memory.usedJSHeapSize : null,
    py_objects: pyodide.runPython("import gc; len(gc.get_objects())"),
  };
}

/**
 * `runs` runs of a 3-step JS workflow (a sync step that sets state, an async step, a step
 * that reads it back): WebAssembly memory, JS heap (after gc()) and live Python objects
 * before and after, once `warmup` runs have warmed everything up.
 */
export async function soak(config) {
  const { runs, warmup } = config;
  const wf = new Workflow("bench-soak");
  wf.addStep("first", [START], (e, ctx) => {
    ctx.set("n", e.n);
    return { type: "Second", n: e.n };
  });
  wf.addStep("second", ["Second"], async (e) => ({ type: "Third", n: e.n + 1 }));
  wf.addStep("third", ["Third"], (e, ctx) => ({ type: STOP, result: ctx.get("n") + e.n }));
  for (let i = 0; i < warmup; i++) await wf.run({ n: i });
  const before = await memory();
  const started = performance.now();
  for (let i = 0; i < runs; i++) {
    const { data } = await wf.run({ n: i });
    if (data !== 2 * i + 1) throw new Error(`soak run ${i}: result ${data}`);
  }
  const seconds = (performance.now() - started) / 1000;
  const after = await memory();
  return { runs, seconds, before, after };
}

// -- profile ------------------------------------------------------------------------------------

/**
 * cProfile of the Python side of blazen.js's JS-step loop (sync and async handlers):
 * where the engine and the bridge spend their time per event.
 */
export async function jsProfile(config) {
  const out = {};
  const repeat = 5;
  for (const mode of ["sync", "async"]) {
    const workload = blazen.loop(config.sizes.loop, mode === "async");
    await workload.run();
    const profiler = workloads.start_profiler();
    for (let i = 0; i < repeat; i++) await workload.run();
    out[mode] = JSON.parse(workloads.stop_profiler_json(profiler, `loop_${mode}`, "blazen.js", workload.events * repeat));
    profiler.destroy();
  }
  return out;
}
