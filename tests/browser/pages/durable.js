// A durable run that a test reloads at random moments. Each step appends its number to
// a trace in workflow state and to an execution log in localStorage (outside the
// workflow, so re-runs show there, with `R<count>` where a resumed run began); the last
// step records the result. On load: resume an
// unfinished run, or start one unless a result is recorded.
// With ?reset the page only clears localStorage and the checkpoints, and boots nothing.
//
// Where reloads cut: every IndexedDB put is logged in localStorage `saves` (`s` when
// issued, `e` when its transaction completed), so a load that finds a trailing `s` knows
// the previous page was reloaded during a save; one that finds step 0 as the last
// execution (or a started run with none) knows it was reloaded during the first step.
// Each load appends what it found to `cuts`.
import init, { Workflow } from "/blazen.js";

const putOf = IDBObjectStore.prototype.put;
IDBObjectStore.prototype.put = function put(...args) {
  append("saves", "s");
  const request = putOf.apply(this, args);
  this.transaction.addEventListener("complete", () => append("saves", "e"));
  return request;
};

const STEPS = 20;
const status = (text, state) => {
  document.getElementById("status").textContent = text;
  document.body.dataset.state = state;
};
const append = (key, text) => localStorage.setItem(key, (localStorage.getItem(key) ?? "") + text);

async function reset() {
  localStorage.clear();
  await new Promise((resolve, reject) => {
    const request = indexedDB.deleteDatabase("blazen_py-checkpoints");
    request.onsuccess = resolve;
    request.onerror = () => reject(request.error);
    request.onblocked = resolve;
  });
  status("reset", "reset");
}

function noteCuts() {
  const saves = localStorage.getItem("saves") ?? "";
  if (saves.endsWith("s")) append("cuts", "save,");
  const log = (localStorage.getItem("exec") ?? "").split(",").filter((x) => x && !x.startsWith("R"));
  const started = (localStorage.getItem("loads") ?? "").includes("start:");
  if (started && localStorage.getItem("result") === null && (log.length === 0 || log.at(-1) === "0")) {
    append("cuts", "first,");
  }
  localStorage.setItem("saves", "");
}

async function main() {
  noteCuts();
  await init();
  const wf = new Workflow("durable-page");
  let resuming = false; // until the first step of a resumed run has run
  wf.addStep("step", ["blazen::StartEvent", "Next"], async (event, ctx) => {
    const n = event.n ?? 0;
    if (resuming) {
      // The state a resumed run starts from is its saved checkpoint's: log how many
      // steps that checkpoint holds as completed (`R<count>`); none of them may run again.
      resuming = false;
      append("exec", `R${(ctx.get("trace") ?? []).length},`);
    }
    append("exec", `${n},`);
    ctx.set("trace", [...(ctx.get("trace") ?? []), n]);
    // Ballast makes each save take a while (more reloads land in one); the first step is
    // long so that reloads land in it too.
    if (n === 0) ctx.set("ballast", "x".repeat(200_000));
    await new Promise((resolve) => setTimeout(resolve, n === 0 ? 120 : 10));
    if (n === STEPS) {
      // Recorded by the step, before the run ends and its checkpoint is deleted: a reload
      // between the end of the run and code after `handler.result()` would lose it.
      localStorage.setItem("result", JSON.stringify(ctx.get("trace")));
      return { type: "blazen::StopEvent", result: ctx.get("trace") };
    }
    return { type: "Next", n: n + 1 };
  });

  const runs = await wf.unfinishedRuns();
  let handler;
  if (runs.length > 0) {
    append("loads", `resume:${runs[0].runId},`);
    resuming = true;
    // The page before this reload may hold the run's Web Lock a moment longer.
    handler = await wf.resumeCheckpoint(runs[0].runId, { wait: 10 });
  } else if (localStorage.getItem("result") === null) {
    handler = await wf.runWithHandler({}, { checkpoint: "indexeddb" });
    append("loads", `start:${handler.runId},`);
  }
  if (handler) {
    status("running", "running");
    await handler.result();
  }
  // Written on a later load too, if a reload came between the result and this line.
  if (localStorage.getItem("left") === null) {
    localStorage.setItem("left", JSON.stringify(await wf.unfinishedRuns()));
  }
  status("done", "done");
}

(new URLSearchParams(location.search).has("reset") ? reset() : main()).catch((error) => {
  status(`failed: ${error.message}`, "error");
  throw error;
});
