// The playground: notebook cells in Python and JavaScript over one blazen_py engine.
//
// Boots Pyodide through blazen.js (same origin, progress from init's onProgress), then runs
// cells: Python through `_playground.run_cell` (web/playground.py), JavaScript as an async
// function body with the blazen.js API in scope. Workflow output is always written as text
// (textContent / text nodes), never as HTML. The API key field goes to init({env}) only.
import init, * as blazen from "./blazen.js";
import { Timeline, draw, isSpanItem, markGraph } from "./graph.js";

// What the model examples do with no endpoint set (shown with each of them).
const REPLAY_NOTE =
  "With Base URL left empty this example replays a recording shipped with this page " +
  "(scripted answers from the project's test server, not a live model): nothing is sent. " +
  "Set Base URL and Model above to use a real OpenAI-compatible server.";

const EXAMPLES = [
  {
    id: "summarizer",
    lang: "python",
    title: "Summarize a text with a language model",
    file: "examples/summarizer.py",
    blurb:
      "Two steps: fetch a text from this site, then ask the model set under Model endpoint " +
      "for a summary (any OpenAI-compatible server that allows this page's origin).",
    needs: REPLAY_NOTE,
  },
  {
    id: "agent",
    lang: "js",
    title: "A tool-calling agent that asks before it acts",
    file: "examples/agent.js",
    blurb:
      "ctx.runAgent in a workflow step: the model calls tools that are functions of this page; " +
      "the one that changes something waits for your Approve or Reject. Each model turn and " +
      "tool call shows in the timeline.",
    needs: REPLAY_NOTE,
  },
  {
    id: "approval",
    lang: "js",
    title: "Human in the loop: approve or reject",
    file: "examples/approval.js",
    blurb: "The run stops at an input request until you answer it with the buttons in the output.",
  },
  {
    id: "fanout",
    lang: "js",
    title: "Fan-out and join",
    file: "examples/fanout.js",
    blurb: "One step returns an array of events; each is handled on its own, side by side.",
  },
  {
    id: "snapshot",
    lang: "python",
    title: "Snapshot to IndexedDB, reload, resume",
    file: "examples/snapshot.py",
    reload: true,
    blurb:
      "Run it once: the run waits for input and its snapshot is saved in this browser's " +
      "IndexedDB. Reload the page and run it again: the run resumes from the snapshot.",
  },
];

const TEMPLATES = {
  python: `# A Python cell: blazen_py is installed; print(), graph(wf), ask() and settings()
# are in scope. Runs show in the timeline; the value of the last line is shown.
from blazen_py import START_EVENT, STOP_EVENT, Workflow

wf = Workflow("hello")
wf.add_step("greet", [START_EVENT],
            lambda event, ctx: {"type": STOP_EVENT, "result": f"Hello, {event['name']}!"},
            emits=[STOP_EVENT])
graph(wf)
(await wf.run({"name": "Ada"})).data
`,
  js: `// A JavaScript cell: the blazen.js API (Workflow, ChatMessage, ...) is in scope, with
// print(), ask() and settings(). Runs show in the timeline; return a value to show it.
const wf = new Workflow('hello');
wf.addStep('greet', ['blazen::StartEvent'],
  (event) => ({ type: 'blazen::StopEvent', result: \`Hello, \${event.name}!\` }),
  { emits: ['blazen::StopEvent'] });
return (await wf.run({ name: 'Ada' })).data;
`,
};

const LANG_NAMES = { python: "Python", js: "JavaScript" };
const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor;
const $ = (id) => document.getElementById(id);

let pyodide = null;
let runPythonCell = null;
let drawings = null; // the playground's Python helper: blazen_py's renderer (see playground.py)
let appliedKey = "";
let cellCount = 0;

// -- small DOM helpers (text only) ------------------------------------------------------------

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (value === true) node.setAttribute(key, "");
    else if (value !== false && value !== null && value !== undefined) node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

/** JSON.stringify replacer: bytes as their length (an item handed to the timeline). */
function bytesAsLength(key, value) {
  return value instanceof Uint8Array ? { $bytes: value.length } : typeof value === "bigint" ? String(value) : value;
}

/** A value as text: strings as they are, everything else as indented JSON. */
function format(value) {
  if (typeof value === "string") return value;
  if (value === undefined) return "undefined";
  try {
    const text = JSON.stringify(
      value,
      (k, v) => (v instanceof Uint8Array ? `<Uint8Array ${v.length} bytes>` : typeof v === "bigint" ? `${v}n` : v),
      2,
    );
    return text === undefined ? String(value) : text;
  } catch {
    return String(value);
  }
}

function describeError(error) {
  if (error && typeof error === "object" && "message" in error) {
    let text = `${error.name || "Error"}: ${error.message}`;
    // The engine's messages name the step already ("step 'parse' failed handling ..."):
    // say it again only when the message does not.
    if (error.step && !String(error.message).includes(`'${error.step}'`)) {
      text += `\n  in step '${error.step}'`;
      if (error.eventType) text += ` handling '${error.eventType}'`;
    }
    return text;
  }
  return String(error);
}

/**
 * Where a syntax error is in a JS cell's code: the Function constructor's SyntaxError says
 * what but not where, so the code is parsed once more as a script, whose error event has
 * the line. `throw null` comes first: were the code to close the wrapper and parse, nothing
 * of it would run.
 */
function syntaxErrorLine(code) {
  return new Promise((resolve) => {
    const source = `throw null;\n(async function () {\n${code}\n});`;
    const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
    const script = document.createElement("script");
    const onError = (event) => {
      if (event.filename !== url) return;
      event.preventDefault(); // reported in the cell, not in the console
      done(event.error instanceof SyntaxError && event.lineno > 2 ? event.lineno - 2 : null);
    };
    const done = (line) => {
      window.removeEventListener("error", onError);
      script.remove();
      URL.revokeObjectURL(url);
      resolve(line);
    };
    window.addEventListener("error", onError);
    script.onload = () => done(null);
    script.onerror = () => done(null);
    script.src = url;
    document.head.append(script);
  });
}

// -- settings ---------------------------------------------------------------------------------

function settings() {
  // hasKey says whether a key is set (so code knows to use OPENAI_API_KEY), never the key.
  return { baseUrl: $("base-url").value.trim(), model: $("model").value.trim(), hasKey: $("api-key").value !== "" };
}

/** Say under the endpoint fields whether the model examples replay or call a server. */
function showEndpointMode() {
  const { baseUrl } = settings();
  const mode = $("endpoint-mode");
  mode.dataset.mode = baseUrl ? "live" : "replay";
  mode.textContent = baseUrl
    ? `The model examples call ${baseUrl}. Empty the Base URL to replay the shipped recordings instead.`
    : "No Base URL set: the summarizer and the agent replay recordings shipped with this page " +
      "(cassettes/*.json, recorded from the project's test server), so they run with no model " +
      "server and no key, and nothing leaves the page. To use a real model, enter the Base URL " +
      "of an OpenAI-compatible server that allows this page's origin (for example a local " +
      "llama.cpp or Ollama server, http://127.0.0.1:8080/v1), its Model name and, if it needs " +
      "one, an API key.";
}

const DEFAULT_LIMIT_S = 120;

/** The time limit of a cell run in seconds (the field under the endpoint settings). */
function cellLimit() {
  const value = Number($("cell-limit").value);
  return Number.isFinite(value) && value > 0 ? Math.min(value, 86_400) : DEFAULT_LIMIT_S;
}

/** Hand a changed API key to the runtime environment (os.environ), and nowhere else. */
async function applyKey() {
  const key = $("api-key").value;
  if (key !== appliedKey) {
    await init({ env: { OPENAI_API_KEY: key } });
    appliedKey = key;
  }
}

function restoreSettings() {
  $("settings").addEventListener("submit", (event) => event.preventDefault());
  for (const id of ["base-url", "model", "cell-limit"]) {
    const saved = localStorage.getItem(`blazen-playground:${id}`);
    if (saved) $(id).value = saved;
    $(id).addEventListener("change", () => localStorage.setItem(`blazen-playground:${id}`, $(id).value.trim()));
  }
  $("base-url").addEventListener("input", showEndpointMode);
  showEndpointMode();
}

// -- cells --------------------------------------------------------------------------------------

class Cell {
  constructor({ id, lang, title, blurb = "", needs = "", code, reload = false, removable = false }) {
    this.id = id;
    this.lang = lang;
    this.original = code;
    this.running = false;
    this.graphDesc = null;
    this.graphSvg = null;
    this.seen = []; // what the stream touched, to mark a graph drawn later

    const base = `cell-${id}`;
    this.runButton = h("button", { type: "button", class: "run primary", disabled: pyodide === null, text: "Run" });
    this.runButton.setAttribute("aria-describedby", `${base}-title`);
    this.stopButton = h("button", { type: "button", class: "stop", hidden: true, text: "Stop" });
    this.stopButton.setAttribute("aria-describedby", `${base}-title`);
    this.stopButton.addEventListener("click", () => this.stopNow && this.stopNow("you pressed Stop"));
    this.stopNow = null;
    this.status = h("span", { class: "cell-status", role: "status" });
    const actions = h("div", { class: "actions" }, this.status, this.runButton, this.stopButton);
    if (reload) {
      const button = h("button", { type: "button", class: "reload", text: "Reload page" });
      button.addEventListener("click", () => location.reload());
      actions.append(button);
    }
    const reset = h("button", { type: "button", class: "reset quiet", text: removable ? "Remove" : "Reset code" });
    actions.append(reset);

    this.code = h("textarea", {
      id: `${base}-code`,
      class: "code",
      wrap: "off", // code is not wrapped: a line is a line, and rows count them
      spellcheck: "false",
      autocapitalize: "off",
      autocomplete: "off",
      "aria-describedby": `${base}-hint`,
    });
    this.code.value = code;
    this.fit();
    this.code.addEventListener("input", () => this.fit());
    // Tab indents, Shift+Tab dedents; Esc then Tab leaves the editor, as code editors do.
    this.escaped = false;
    this.code.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey || event.shiftKey)) {
        event.preventDefault();
        this.run();
      } else if (event.key === "Escape") {
        this.escaped = true;
        return;
      } else if (event.key === "Tab" && !event.ctrlKey && !event.altKey && !event.metaKey) {
        if (!this.escaped) {
          event.preventDefault();
          this.indent(event.shiftKey);
        }
      }
      if (event.key !== "Shift") this.escaped = false;
    });
    this.code.addEventListener("blur", () => {
      this.escaped = false;
    });

    this.output = h("pre", { class: "output", "aria-live": "polite" });
    this.askBox = h("div", { class: "ask-box" });
    this.graphBox = h("div", { class: "graph-box" });
    this.timelineBox = h("div", { class: "timeline-box" });
    this.items = h("ol", { class: "items" });
    this.timeline = new Timeline(this.timelineBox, this.items, (width) =>
      drawings ? JSON.parse(drawings.timeline_draw(this.id, width)) : null,
    );
    this.panes = h(
      "div",
      { class: "panes", hidden: true },
      h("section", { class: "pane graph-pane", "aria-label": "Workflow graph" }, h("h3", { text: "Workflow graph" }), this.graphBox),
      h("section", { class: "pane out-pane", "aria-label": "Output" }, h("h3", { text: "Output" }), this.askBox, this.output),
      h(
        "section",
        { class: "pane timeline-pane", "aria-label": "Timeline" },
        h("h3", { text: "Timeline: one span per step run" }),
        this.timelineBox,
        h("details", {}, h("summary", { text: "Stream items as text" }), this.items),
      ),
    );

    this.root = h(
      "article",
      { class: `cell ${lang}`, id: base, "data-lang": lang, "data-status": "idle", "aria-labelledby": `${base}-title` },
      h(
        "header",
        {},
        h("span", { class: `badge ${lang}`, text: LANG_NAMES[lang] }),
        h("h2", { id: `${base}-title`, text: title }),
        actions,
      ),
      blurb ? h("p", { class: "blurb", text: blurb }) : "",
      needs ? h("p", { class: "needs", role: "note", text: needs }) : "",
      h("label", { class: "sr-only", for: `${base}-code`, text: `${LANG_NAMES[lang]} code of “${title}”` }),
      this.code,
      h("p", {
        class: "hint",
        id: `${base}-hint`,
        text: "Ctrl+Enter runs the cell. Tab indents; Esc, then Tab, leaves the editor.",
      }),
      this.panes,
    );

    this.runButton.addEventListener("click", () => this.run());
    reset.addEventListener("click", () => {
      if (removable) {
        this.root.remove();
      } else {
        this.code.value = this.original;
        this.fit();
      }
    });
  }

  fit() {
    const lines = this.code.value.split("\n").length;
    this.code.rows = Math.min(Math.max(lines, 4), 80);
    // The browser scrolls the field to the caret before it grows: once every line fits,
    // its first lines come back into view.
    if (lines <= 80) this.code.scrollTop = 0;
  }

  /** Indent the selected lines (or insert an indent at the caret); `out`: dedent. */
  indent(out) {
    const unit = this.lang === "python" ? "    " : "  ";
    const area = this.code;
    const { value, selectionStart: start, selectionEnd: end } = area;
    if (!out && start === end) {
      area.setRangeText(unit, start, end, "end");
    } else {
      const from = value.lastIndexOf("\n", start - 1) + 1;
      const to = end > start && value[end - 1] === "\n" ? end - 1 : end;
      const lines = value.slice(from, to).split("\n");
      const changed = lines.map((line) => {
        if (!out) return unit + line;
        const spaces = line.match(/^ */)[0].length;
        return line.slice(Math.min(spaces, unit.length));
      });
      const text = changed.join("\n");
      area.setRangeText(text, from, to, "preserve");
      const first = changed[0].length - lines[0].length;
      area.selectionStart = Math.max(from, start + first);
      area.selectionEnd = Math.max(area.selectionStart, end + text.length - (to - from));
    }
    this.fit();
  }

  enable() {
    this.runButton.disabled = false;
  }

  setStatus(status, text) {
    this.root.dataset.status = status;
    this.status.textContent = text;
    this.status.className = `cell-status ${status}`;
  }

  print(text, kind = "") {
    const span = document.createElement("span");
    if (kind) span.className = kind;
    span.textContent = text;
    this.output.append(span);
  }

  setGraph(desc) {
    this.graphDesc = desc;
    this.panes.hidden = false;
    const json = JSON.stringify(plainDesc(desc, [], { left: 2000 }));
    this.graphSvg = draw(this.graphBox, JSON.parse(drawings.draw_graph(json, this.lang)));
    drawings.timeline_declare(this.id, json);
    for (const item of this.seen) markGraph(this.graphSvg, item);
    this.timeline.schedule();
  }

  /** A stream item of this cell's run: listed, marked on the graph; `feed`: also given to
   * the timeline's model (a JS run's item; a Python run's items are traced in Python). */
  event(item, feed = true) {
    const normal = { ...item, eventType: item.eventType ?? item.event_type };
    delete normal.event_type;
    if (feed) drawings.timeline_add(this.id, JSON.stringify(normal, bytesAsLength));
    this.timeline.add(normal);
    if (!isSpanItem(normal)) {
      if (this.seen.length < 1000) this.seen.push({ eventType: normal.eventType, step: normal.step });
      markGraph(this.graphSvg, normal);
    }
  }

  watch(handler) {
    handler.streamEvents((item) => this.event(item)).catch(() => {});
  }

  /** Buttons in the output; resolves to the chosen label in lower case. */
  ask(prompt, choices) {
    return new Promise((resolve) => {
      const group = h("div", { class: "ask", role: "group" });
      const question = h("p", { class: "prompt", text: String(prompt) });
      question.id = `${this.root.id}-ask-${Math.random().toString(36).slice(2)}`;
      group.setAttribute("aria-labelledby", question.id);
      const buttons = h("div", { class: "choices" });
      for (const [i, choice] of choices.entries()) {
        const label = String(choice);
        const button = h("button", { type: "button", class: i === 0 ? "primary" : "", text: label });
        button.addEventListener("click", () => {
          group.remove();
          this.print(`${String(prompt)} → ${label}\n`, "answer");
          resolve(label.toLowerCase());
        });
        buttons.append(button);
      }
      group.append(question, buttons);
      this.askBox.append(group);
      this.panes.hidden = false;
      buttons.firstElementChild?.focus();
    });
  }

  async run() {
    if (this.running || pyodide === null) return;
    this.running = true;
    this.runButton.disabled = true;
    this.output.replaceChildren();
    this.askBox.replaceChildren();
    this.seen = [];
    drawings.timeline_begin(this.id);
    this.timeline.reset();
    this.graphDesc = null;
    this.graphSvg = null;
    this.graphBox.replaceChildren(h("p", { class: "muted", text: "No workflow drawn yet." }));
    this.panes.hidden = false;
    const limit = cellLimit();
    this.setStatus("running", `Running… (stops after ${limit} s)`);
    const started = performance.now();
    // Running spans grow even when no item comes (a long step, a run waiting for an answer).
    const growing = setInterval(() => this.timeline.schedule(), 500);
    // Stop (the button or the time limit) aborts the cell's runs, cancels its Python code,
    // and ends the cell at once: code that never returns cannot hold the page.
    let stopped = null;
    const stopping = new Promise((resolve) => {
      this.stopNow = (why) => {
        if (stopped !== null) return;
        stopped = why;
        drawings.stop_cell(this.id);
        resolve(false);
      };
    });
    const timer = setTimeout(() => this.stopNow(`it ran longer than the time limit of ${limit} s`), limit * 1000);
    this.runButton.hidden = true;
    this.stopButton.hidden = false;
    let ok = true;
    try {
      await applyKey();
      const work = this.lang === "python" ? this.runPython() : this.runJs();
      work.catch(() => {}); // after a stop its failure is no longer shown
      ok = await Promise.race([work, stopping]);
    } catch (error) {
      ok = false;
      if (stopped === null) this.print(`${describeError(error)}\n`, "error");
    } finally {
      clearTimeout(timer);
      clearInterval(growing);
      this.stopNow = null;
      if (stopped !== null) {
        ok = false;
        this.askBox.replaceChildren();
        this.print(`Stopped: ${stopped}.\n`, "error");
      }
      drawings.timeline_end(this.id, ok ? "completed" : "failed");
      this.timeline.schedule();
      const seconds = ((performance.now() - started) / 1000).toFixed(2);
      if (stopped !== null) this.setStatus("stopped", `Stopped after ${seconds} s`);
      else this.setStatus(ok ? "done" : "error", ok ? `Done in ${seconds} s` : "Failed");
      this.stopButton.hidden = true;
      this.runButton.hidden = false;
      this.running = false;
      this.runButton.disabled = false;
    }
  }

  async runPython() {
    const hooks = {
      out: (text) => this.print(String(text)),
      event: (json) => this.event(JSON.parse(json), false),
      redraw: () => this.timeline.schedule(),
      graph: (json) => this.setGraph(JSON.parse(json)),
      ask: (prompt, choices) => this.ask(prompt, JSON.parse(choices)),
      settings: () => {
        const s = settings();
        return JSON.stringify({ base_url: s.baseUrl, model: s.model });
      },
    };
    const answer = JSON.parse(await runPythonCell(this.code.value, hooks, `<cell ${this.id}>`, this.id));
    if (answer.stopped) return false;
    if (answer.graph && this.graphDesc === null) this.setGraph(answer.graph);
    if (answer.error !== null) {
      this.print(`${answer.error}\n`, "error");
      return false;
    }
    if (answer.value !== null) this.print(`${answer.value}\n`, "value");
    return true;
  }

  async runJs() {
    const scope = jsScope(this);
    let fn;
    try {
      fn = new AsyncFunction(...Object.keys(scope), this.code.value);
    } catch (error) {
      if (!(error instanceof SyntaxError)) throw error;
      const line = await syntaxErrorLine(this.code.value);
      if (line !== null) error.message += ` (line ${line})`;
      throw error;
    }
    const value = await fn(...Object.values(scope));
    if (value !== undefined) this.print(`${format(value)}\n`, "value");
    return true;
  }
}

/** A description with its sub-workflow steps' children (workflows) replaced by their own
 * descriptions, as graph.py's describe() does: a workflow met again on its own path (nested
 * in itself), 8 deep or past 2000 steps in all is given by name only. */
function plainDesc(desc, path, budget) {
  const inner = [...path, desc];
  const steps = desc.steps.map((step) => {
    budget.left -= 1;
    if (!step.sub) return step;
    // A Python cell's description comes nested already (graph.py's describe()).
    if (!step.sub.children.some((wf) => wf instanceof blazen.Workflow)) return step;
    const children = step.sub.children.map((wf) => {
      if (!(wf instanceof blazen.Workflow)) return wf;
      const child = describedWorkflows.get(wf);
      if (!child || inner.includes(child) || inner.length >= 8 || budget.left <= child.steps.length) {
        return { name: String(wf && wf.name), steps: [], ref: true };
      }
      return plainDesc(child, inner, budget);
    });
    return { ...step, sub: { kind: step.sub.kind, children } };
  });
  return { name: desc.name, steps };
}

// Every instrumented workflow's description (a JS cell's workflows), for plainDesc.
const describedWorkflows = new WeakMap();

/** What a JS cell sees: the blazen.js API, with Workflow and WorkflowBuilder recording their
 * steps (for the graph) and feeding their runs' stream items to the cell's timeline. */
function jsScope(cell) {
  const P = blazen.Workflow.prototype;
  const drawn = new WeakMap(); // workflow -> its description
  const instrument = (wf, steps) => {
    const desc = { name: wf.name, steps };
    drawn.set(wf, desc);
    describedWorkflows.set(wf, desc);
    const begin = () => cell.setGraph(desc);
    // A run started here is the cell's: Stop aborts it (see playground.py's stop_cell).
    const own = (start) => {
      drawings.js_cell_enter(cell.id);
      try {
        return start();
      } finally {
        drawings.js_cell_exit();
      }
    };
    wf.addStep = (name, eventTypes, handler, options = null) => {
      P.addStep.call(wf, name, eventTypes, handler, options);
      steps.push({
        name: String(name),
        accepts: [...eventTypes].map(String),
        emits: options && options.emits ? [...options.emits].map(String) : null,
      });
      begin();
      return wf;
    };
    // Sub-workflow steps: their child workflows go into the description (see subDesc).
    const nested = (method, kind, many) => {
      wf[method] = (name, eventTypes, child, options = null) => {
        P[method].call(wf, name, eventTypes, child, options);
        steps.push({
          name: String(name),
          accepts: [...eventTypes].map(String),
          emits: null,
          sub: { kind, children: many ? [...child] : [child] },
        });
        begin();
        return wf;
      };
    };
    nested("addSubworkflowStep", "subworkflow", false);
    nested("addMapStep", "map", false);
    nested("addParallelSubworkflows", "parallel", true);
    // Runs stream their step spans too (spans: true) for the timeline; a callback of the
    // cell's own sees only what it would without them.
    const SPANS = { spans: true };
    wf.run = (input = {}) => {
      begin();
      return own(() => P.runStreaming.call(wf, input, (item) => cell.event(item), SPANS));
    };
    wf.runStreaming = (input, callback, options = null) => {
      if (typeof callback !== "function") return P.runStreaming.call(wf, input, callback);
      begin();
      const asked = options && options.spans === true;
      return own(() => P.runStreaming.call(wf, input, (item) => {
        cell.event(item);
        return asked || !isSpanItem(item) ? callback(item) : undefined;
      }, SPANS));
    };
    // A handler's own streamEvents leaves the span items out, unless the cell asked for them.
    const watched = (handler, options) => {
      cell.watch(handler);
      if (!(options && options.spans === true)) {
        const stream = handler.streamEvents.bind(handler);
        handler.streamEvents = (callback) => stream((item) => (isSpanItem(item) ? undefined : callback(item)));
      }
      return handler;
    };
    wf.runWithHandler = async (input = {}, options = null) => {
      begin();
      return watched(await own(() => P.runWithHandler.call(wf, input, { ...options, ...SPANS })), options);
    };
    wf.resumeWithSerializableRefs = async (snapshot, deserializers, options = null) => {
      begin();
      const opts = { ...options, ...SPANS };
      return watched(await own(() => P.resumeWithSerializableRefs.call(wf, snapshot, deserializers, opts)), options);
    };
    wf.resumeCheckpoint = (runId, options = null) => own(() => P.resumeCheckpoint.call(wf, runId, options));
    if (steps.length) begin();
    return wf;
  };

  class WorkflowBuilder extends blazen.WorkflowBuilder {
    #steps = [];
    addStep(name, eventTypes, handler, options = null) {
      super.addStep(name, eventTypes, handler, options);
      this.#steps.push({
        name: String(name),
        accepts: [...eventTypes].map(String),
        emits: options && options.emits ? [...options.emits].map(String) : null,
      });
      return this;
    }
    build() {
      return instrument(super.build(), this.#steps.map((s) => ({ ...s })));
    }
  }

  class Workflow extends blazen.Workflow {
    constructor(name) {
      super(name);
      instrument(this, []);
    }
    static builder(name) {
      return new WorkflowBuilder(name);
    }
    static fromBuilder(builder) {
      return builder.build();
    }
  }

  const print = (...args) => cell.print(`${args.map(format).join(" ")}\n`);
  return {
    blazen,
    init,
    pyodide,
    Workflow,
    WorkflowBuilder,
    WorkflowHandler: blazen.WorkflowHandler,
    ChatMessage: blazen.ChatMessage,
    CompletionModel: blazen.CompletionModel,
    registerStateClass: blazen.registerStateClass,
    print,
    console: { log: print, info: print, warn: print, error: print },
    timeline: (item) => cell.event(item),
    graph: (wf) => drawn.has(wf) && cell.setGraph(drawn.get(wf)),
    ask: (prompt, choices = ["Approve", "Reject"]) => cell.ask(prompt, choices),
    settings,
  };
}

// -- boot -------------------------------------------------------------------------------------------

const cells = [];

function addCell(spec, focus = false) {
  const cell = new Cell(spec);
  cells.push(cell);
  $("cells").append(cell.root);
  if (focus) cell.code.focus();
  return cell;
}

function progress(value, text) {
  $("progress").value = Math.round(value * 100);
  $("status").textContent = text;
}

async function main() {
  document.body.dataset.state = "booting";
  restoreSettings();
  progress(0.02, "Reading build info…");
  const [info, codes, helper] = await Promise.all([
    fetch("./build-info.json").then((r) => r.json()),
    Promise.all(EXAMPLES.map((e) => fetch(`./${e.file}`).then((r) => r.text()))),
    fetch("./playground.py").then((r) => r.text()),
  ]);
  $("versions").textContent = `${info.name} ${info.version} · Pyodide ${info.pyodide} · Python ${info.python}`;
  // The JupyterLite site exists once `python build.py lab` (or `test`) has built it: the
  // build says so (no probe that would 404 when it has not).
  $("lab-link").hidden = info.lab !== true;
  EXAMPLES.forEach((example, i) => addCell({ ...example, code: codes[i] }));

  // The runtime stage reports once at its start; creep the bar meanwhile so it shows life.
  let shown = 0.05;
  let ceiling = 0.75;
  const creep = setInterval(() => {
    shown = Math.min(ceiling, shown + (ceiling - shown) * 0.06);
    $("progress").value = Math.round(shown * 100);
  }, 120);
  const started = performance.now();
  try {
    pyodide = await init({
      onProgress: ({ progress: p, message }) => {
        shown = Math.max(shown, p);
        ceiling = p >= 0.8 ? 0.99 : 0.75;
        progress(shown, `${message}…`);
      },
    });
  } finally {
    clearInterval(creep);
  }
  pyodide.FS.mkdirTree("/playground");
  pyodide.FS.writeFile("/playground/_playground.py", helper);
  pyodide.runPython("import sys; sys.path.insert(0, '/playground')");
  drawings = pyodide.pyimport("_playground"); // kept for the page's life
  runPythonCell = drawings.run_cell;

  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  progress(1, `Ready in ${seconds} s. Edit a cell and press Run.`);
  $("boot").classList.add("ready");
  for (const cell of cells) cell.enable();
  for (const button of document.querySelectorAll("#add-cells button")) button.disabled = false;
  document.body.dataset.state = "ready";
}

$("add-python").addEventListener("click", () =>
  addCell({ id: `new-${++cellCount}`, lang: "python", title: `Python cell ${cellCount}`, code: TEMPLATES.python, removable: true }, true),
);
$("add-js").addEventListener("click", () =>
  addCell({ id: `new-${++cellCount}`, lang: "js", title: `JavaScript cell ${cellCount}`, code: TEMPLATES.js, removable: true }, true),
);

main().catch((error) => {
  const status = $("status");
  status.textContent = `Failed to start: ${error && error.message ? error.message : error}`;
  status.classList.add("error");
  document.body.dataset.state = "error";
  console.error(error);
});
