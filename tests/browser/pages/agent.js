// A durable agent run (ctx.runAgent) that a test reloads mid-run. Query: ?base=<API root>
// &model=<model>&wf=<workflow name>. Each tool handler appends its call to localStorage
// `ran` (outside the workflow, so a re-run shows); the result goes to localStorage
// `result`. On load: resume the unfinished run, or start one unless a result is recorded.
// Open input requests (tool approvals) are kept in window.__requests for the test.
import init, { Workflow, CompletionModel, ChatMessage } from "/blazen.js";

const query = new URLSearchParams(location.search);
const append = (key, item) =>
  localStorage.setItem(key, JSON.stringify([...JSON.parse(localStorage.getItem(key) ?? "[]"), item]));
const status = (text, state) => {
  document.getElementById("status").textContent = text;
  document.body.dataset.state = state;
};
const numbers = {
  type: "object",
  properties: { a: { type: "number" }, b: { type: "number" } },
  required: ["a", "b"],
};

await init();
const model = CompletionModel.openaiCompatible({ baseUrl: query.get("base"), model: query.get("model"), maxRetries: 0 });
const tools = [
  { name: "add", description: "Add", parameters: numbers, handler: (args) => { append("ran", ["add", args]); return args.a + args.b; } },
  { name: "multiply", description: "Multiply", parameters: numbers,
    handler: async (args) => { append("ran", ["multiply", args]); return args.a * args.b; } },
  { name: "send_email", description: "Send an email", needsApproval: true,
    parameters: { type: "object", properties: { to: { type: "string" } }, required: ["to"] },
    handler: (args) => { append("ran", ["send_email", args]); return "sent"; } },
];
const wf = new Workflow(query.get("wf"));
wf.addStep("agent", ["blazen::StartEvent"], async (event, ctx) => {
  const result = await ctx.runAgent(model, [ChatMessage.user(event.question)], tools);
  return { type: "blazen::StopEvent", result: { content: result.content, iterations: result.iterations } };
});

window.__requests = [];
window.__items = [];
const runs = await wf.unfinishedRuns();
let handler;
if (runs.length > 0) {
  handler = await wf.resumeCheckpoint(runs[0].runId);
} else if (localStorage.getItem("result") === null) {
  handler = await wf.runWithHandler({ question: "compute" }, { checkpoint: "indexeddb" });
}
if (handler === undefined) {
  status("done", "done");
} else {
  window.__handler = handler;
  status("running", "running");
  handler.streamEvents((item) => {
    window.__items.push(item.eventType);
    if (item.eventType === "InputRequested") window.__requests.push({ id: item.requestId ?? item.request_id, metadata: item.metadata });
  });
  const result = await handler.result();
  localStorage.setItem("result", JSON.stringify(result.data));
  status("done", "done");
}
