// One durable run, several tabs. ?tab=NAME&mode=seed starts the run (the test closes
// that tab mid-run: a crash); mode=resume resumes the oldest unfinished run (with
// &wait=SECONDS, or wait=forever, it waits for the current owner). Every step execution
// is appended to localStorage under `exec:NAME` (one key per tab, so two tabs writing at
// once cannot lose each other's entries), with `R<count>` where a resumed run began from
// a checkpoint holding <count> finished steps. The outcome goes to `outcome:NAME`:
// `ran:<result>`, or the error's class name and message. &ms=N: each step takes N ms (150).
import init, { Workflow } from "/blazen.js";

const STEPS = 6;
const params = new URLSearchParams(location.search);
const tab = params.get("tab") ?? "tab";
const mode = params.get("mode") ?? "resume";
const status = (text, state) => {
  document.getElementById("status").textContent = text;
  document.body.dataset.state = state;
};
const append = (text) => localStorage.setItem(`exec:${tab}`, (localStorage.getItem(`exec:${tab}`) ?? "") + text);

async function main() {
  await init();
  const wf = new Workflow("durable-tabs");
  let resuming = mode === "resume";
  wf.addStep("step", ["blazen::StartEvent", "Next"], async (event, ctx) => {
    const n = event.n ?? 0;
    if (resuming) {
      resuming = false;
      append(`R${(ctx.get("trace") ?? []).length},`);
    }
    append(`${n},`);
    ctx.set("trace", [...(ctx.get("trace") ?? []), n]);
    await new Promise((resolve) => setTimeout(resolve, Number(params.get("ms") ?? 150)));
    if (n === STEPS) return { type: "blazen::StopEvent", result: ctx.get("trace") };
    return { type: "Next", n: n + 1 };
  });
  let handler;
  if (mode === "seed") {
    handler = await wf.runWithHandler({}, { checkpoint: "indexeddb" });
  } else {
    const runs = await wf.unfinishedRuns();
    if (runs.length === 0) throw new Error("no unfinished run to resume");
    const wait = params.get("wait") === "forever" ? true : Number(params.get("wait") ?? 0);
    // Booted: wait for the test's go (localStorage `go:NAME`), so that tabs resume together.
    status("ready", "ready");
    while (localStorage.getItem(`go:${tab}`) === null) await new Promise((resolve) => setTimeout(resolve, 10));
    status("resuming", "resuming");
    handler = await wf.resumeCheckpoint(runs[0].runId, { wait });
  }
  status(`running ${handler.runId}`, "running");
  const result = await handler.result();
  localStorage.setItem(`outcome:${tab}`, `ran:${JSON.stringify(result.data)}`);
  status("done", "done");
}

main().catch((error) => {
  localStorage.setItem(`outcome:${tab}`, `${error.name}:${error.message}`);
  status(`failed: ${error.name}: ${error.message}`, "error");
});
