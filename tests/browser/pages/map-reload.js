// A durable map step of 50 items (concurrency 5) that a test reloads mid-run. Each item's
// child run logs to localStorage `exec` when it starts (`s<i>,`) and when it finishes
// (`d<i>,`), outside the workflow, so re-runs show there. On load, before resuming, the
// page reads the items the saved checkpoint holds as done (its map record's `results`,
// docs/snapshot-format.md) and logs them as `R<i>.<j>...,`: none of them may start again.
// The result is recorded by the last step, before the run ends. ?reset clears everything.
import init, { Workflow } from "/blazen.js";

const ITEMS = 50;
const status = (text, state) => {
  document.getElementById("status").textContent = text;
  document.body.dataset.state = state;
};
const append = (key, text) => localStorage.setItem(key, (localStorage.getItem(key) ?? "") + text);

function idb(action) {
  return new Promise((resolve, reject) => {
    const request = action();
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
    request.onblocked = () => resolve(null);
  });
}

async function reset() {
  localStorage.clear();
  await idb(() => indexedDB.deleteDatabase("blazen_py-checkpoints"));
  status("reset", "reset");
}

// The items the stored checkpoint of `runId` holds as finished, read as plain data.
async function savedItems(runId) {
  const db = await idb(() => indexedDB.open("blazen_py-checkpoints", 1));
  try {
    const text = await idb(() => db.transaction("snapshots").objectStore("snapshots").get(runId));
    const done = new Set();
    for (const input of JSON.parse(text).step_inputs ?? []) {
      for (const call of input.calls ?? []) {
        if (call.kind === "map") for (const index of Object.keys(call.results)) done.add(Number(index));
      }
    }
    return [...done].sort((a, b) => a - b);
  } finally {
    db.close();
  }
}

async function main() {
  await init();
  const item = new Workflow("map-item");
  item.addStep("work", ["blazen::StartEvent"], async (event) => {
    append("exec", `s${event.i},`);
    await new Promise((resolve) => setTimeout(resolve, 40 + ((event.i * 37) % 90)));
    append("exec", `d${event.i},`);
    return { type: "blazen::StopEvent", result: event.i * event.i };
  });
  const wf = new Workflow("map-reload");
  wf.addStep("start", ["blazen::StartEvent"], () => ({ type: "Items", n: ITEMS }));
  wf.addMapStep("squares", ["Items"], item, {
    items: (event) => Array.from({ length: event.n }, (_, i) => ({ i })),
    output: (results) => ({ type: "Squares", values: results.map((r) => r.data) }),
    concurrency: 5,
  });
  wf.addStep("finish", ["Squares"], (event) => {
    localStorage.setItem("result", JSON.stringify(event.values));
    return { type: "blazen::StopEvent", result: event.values };
  });

  const runs = await wf.unfinishedRuns();
  let handler;
  if (runs.length > 0) {
    append("exec", `R${(await savedItems(runs[0].runId)).join(".")},`);
    handler = await wf.resumeCheckpoint(runs[0].runId, { wait: 30 });
  } else if (localStorage.getItem("result") === null) {
    handler = await wf.runWithHandler({}, { checkpoint: "indexeddb" });
  }
  if (handler) {
    status("running", "running");
    await handler.result();
  }
  status("done", "done");
}

(new URLSearchParams(location.search).has("reset") ? reset() : main()).catch((error) => {
  status(`failed: ${error.name}: ${error.message}`, "error");
});
