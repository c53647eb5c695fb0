// Drawings of the playground: a workflow's graph (steps and event types, from the declared
// accepts / emits) and a run's timeline (stream items per step over time), as inline SVG.
// Every label is set with textContent: names come from user code and are never HTML.

const SVG = "http://www.w3.org/2000/svg";
const START = "blazen::StartEvent";
const STOP = "blazen::StopEvent";
const INPUT_REQUEST = "blazen::InputRequestEvent";
const INPUT_RESPONSE = "blazen::InputResponseEvent";

function el(name, attrs = {}, text = null) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

/** A short label for an event type: 'blazen::StopEvent' -> 'StopEvent'. */
export function shortType(type) {
  return type.startsWith("blazen::") ? type.slice(8) : type;
}

let drawings = 0; // for ids unique in the page

const textWidth = (text, size) => Math.ceil(text.length * size * 0.6) + 4;

/**
 * Lay out a workflow: columns by distance from the start event (events and steps
 * alternate), nodes in declaration order within a column.
 * @param {{name: string, steps: {name: string, accepts: string[], emits: string[]|null}[]}} wf
 */
export function layout(wf) {
  const steps = wf.steps.map((s) => ({ ...s, id: `s:${s.name}`, kind: "step", label: s.name }));
  const events = new Map();
  const addEvent = (type) => {
    if (!events.has(type)) events.set(type, { id: `e:${type}`, kind: "event", type, label: shortType(type) });
    return events.get(type);
  };
  addEvent(START);
  for (const step of steps) {
    for (const type of step.accepts) addEvent(type);
    for (const type of step.emits ?? []) addEvent(type);
  }
  const edges = [];
  for (const step of steps) {
    for (const type of step.accepts) edges.push({ from: events.get(type), to: step, kind: "accepts" });
    for (const type of step.emits ?? []) edges.push({ from: step, to: events.get(type), kind: "emits" });
  }
  if (events.has(INPUT_REQUEST) && events.has(INPUT_RESPONSE)) {
    edges.push({ from: events.get(INPUT_REQUEST), to: events.get(INPUT_RESPONSE), kind: "human" });
  }

  // Ranks: breadth first from the start event along declared edges.
  const rank = new Map([[events.get(START), 0]]);
  const queue = [events.get(START)];
  while (queue.length) {
    const node = queue.shift();
    for (const edge of edges) {
      if (edge.from === node && !rank.has(edge.to)) {
        rank.set(edge.to, rank.get(node) + 1);
        queue.push(edge.to);
      }
    }
  }
  // Whatever the start event does not reach (undeclared emits): steps after their
  // highest ranked accepted event, events after a ranked producer.
  const nodes = [...events.values(), ...steps];
  for (let pass = 0; pass < 3; pass++) {
    for (const node of nodes) {
      if (rank.has(node)) continue;
      const before = edges.filter((e) => e.to === node && rank.has(e.from)).map((e) => rank.get(e.from));
      if (before.length) rank.set(node, Math.max(...before) + 1);
    }
  }
  for (const node of nodes) if (!rank.has(node)) rank.set(node, node.kind === "step" ? 1 : 0);

  const columns = [];
  for (const node of nodes) {
    const r = rank.get(node);
    (columns[r] ??= []).push(node);
  }
  const NODE_H = 30;
  const GAP_Y = 14;
  const GAP_X = 34;
  const PAD = 12;
  let x = PAD;
  let height = 0;
  const placed = columns.filter(Boolean);
  for (const column of placed) {
    for (const node of column) node.w = Math.max(textWidth(node.label, 12) + 22, 64);
    const colW = Math.max(...column.map((n) => n.w));
    for (const node of column) {
      node.x = x + (colW - node.w) / 2;
      node.h = NODE_H;
    }
    x += colW + GAP_X;
    height = Math.max(height, column.length * (NODE_H + GAP_Y) - GAP_Y);
  }
  for (const column of placed) {
    const colH = column.length * (NODE_H + GAP_Y) - GAP_Y;
    column.forEach((node, i) => {
      node.y = PAD + (height - colH) / 2 + i * (NODE_H + GAP_Y);
    });
  }
  for (const node of nodes) node.rank = rank.get(node);
  const loops = edges.some((e) => e.to.rank <= e.from.rank) ? 26 : 0;
  return { nodes, edges, width: Math.max(x - GAP_X + PAD, 470), height: height + 2 * PAD + 30 + loops };
}

/**
 * Draw a workflow into `container` (replacing what was there); returns the <svg>.
 * Undeclared emits (null) show as a dashed step border.
 */
export function renderGraph(container, wf) {
  const { nodes, edges, width, height } = layout(wf);
  const svg = el("svg", {
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: "img",
    class: "graph",
  });
  const title = el("title", {}, `Workflow ${wf.name}: ${wf.steps.length} steps`);
  const desc = el(
    "desc",
    {},
    wf.steps
      .map((s) => `${s.name} accepts ${s.accepts.join(", ")}; emits ${s.emits ? s.emits.join(", ") || "nothing" : "undeclared"}`)
      .join(". "),
  );
  svg.append(title, desc);
  const defs = el("defs");
  const arrow = `blazen-arrow-${++drawings}`;
  const marker = el("marker", {
    id: arrow,
    viewBox: "0 0 10 10",
    refX: 9,
    refY: 5,
    markerWidth: 7,
    markerHeight: 7,
    orient: "auto-start-reverse",
  });
  marker.append(el("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead" }));
  defs.append(marker);
  svg.append(defs);

  const edgeLayer = el("g", { class: "edges" });
  for (const edge of edges) {
    const a = edge.from;
    const b = edge.to;
    let d;
    if (b.rank > a.rank) {
      const x1 = a.x + a.w;
      const y1 = a.y + a.h / 2;
      const x2 = b.x;
      const y2 = b.y + b.h / 2;
      const mid = (x1 + x2) / 2;
      d = `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2 - 1},${y2}`;
    } else {
      // A loop back (or a same-column link): below the nodes.
      const x1 = a.x + a.w / 2;
      const y1 = a.y + a.h;
      const x2 = b.x + b.w / 2;
      const y2 = b.y + b.h;
      const low = Math.max(y1, y2) + 24;
      d = `M${x1},${y1} C${x1},${low} ${x2},${low} ${x2},${y2 + 1}`;
    }
    edgeLayer.append(el("path", { d, class: `edge ${edge.kind}`, "marker-end": `url(#${arrow})` }));
  }
  svg.append(edgeLayer);

  const nodeLayer = el("g", { class: "nodes" });
  for (const node of nodes) {
    const g = el("g", { class: `node ${node.kind}`, transform: `translate(${node.x},${node.y})` });
    if (node.kind === "step") {
      g.dataset.step = node.name;
      g.dataset.accepts = JSON.stringify(node.accepts);
      if (node.emits === null) g.classList.add("undeclared");
    } else {
      g.dataset.event = node.type;
      if (node.type === START || node.type === STOP) g.classList.add("builtin");
    }
    g.append(
      el("rect", { width: node.w, height: node.h, rx: node.kind === "step" ? 6 : node.h / 2 }),
      el("text", { x: node.w / 2, y: node.h / 2 + 4, "text-anchor": "middle" }, node.label),
    );
    nodeLayer.append(g);
  }
  svg.append(nodeLayer);

  const legend = el("g", { class: "legend", transform: `translate(12,${height - 16})` });
  legend.append(
    el("rect", { x: 0, y: 0, width: 16, height: 10, rx: 2, class: "key step" }),
    el("text", { x: 21, y: 9 }, "step"),
    el("rect", { x: 58, y: 0, width: 20, height: 10, rx: 5, class: "key event" }),
    el("text", { x: 83, y: 9 }, "event type"),
    el("path", { d: "M150,5 h22", class: "edge", "marker-end": `url(#${arrow})` }),
    el("text", { x: 178, y: 9 }, "accepts / emits"),
  );
  if (edges.some((e) => e.kind === "human")) {
    legend.append(
      el("path", { d: "M270,5 h22", class: "edge human", "marker-end": `url(#${arrow})` }),
      el("text", { x: 298, y: 9 }, "answered with respondToInput"),
    );
  }
  svg.append(legend);

  container.replaceChildren(svg);
  return svg;
}

/** Mark the nodes a stream item touched: its event type, the steps that accept it (they
 * receive it) and the step it names, if any. */
export function markGraph(svg, item) {
  if (!svg) return;
  for (const node of svg.querySelectorAll("g.node")) {
    const receives = node.dataset.accepts && JSON.parse(node.dataset.accepts).includes(item.eventType);
    if (node.dataset.event === item.eventType || receives || (item.step && node.dataset.step === item.step)) {
      node.classList.add("seen");
    }
  }
}

/**
 * A run's stream items on a time axis, one lane per step. An item goes to the lane of the
 * step it names (input requests, errors), else of the steps that accept its type (they
 * receive it), else of the steps that declare they emit it, else to "stream".
 */
export class Timeline {
  constructor(svgBox, list) {
    this.svgBox = svgBox;
    this.list = list;
    this.workflow = null;
    this.reset();
  }

  reset() {
    this.items = [];
    this.t0 = null;
    this.svgBox.replaceChildren();
    this.list.replaceChildren();
    this.pending = false;
  }

  setWorkflow(wf) {
    this.workflow = wf;
    this.schedule();
  }

  lanesFor(item) {
    if (item.step) return [item.step];
    const steps = this.workflow ? this.workflow.steps : [];
    const accepting = steps.filter((s) => s.accepts.includes(item.eventType)).map((s) => s.name);
    if (accepting.length) return accepting;
    const emitting = steps.filter((s) => (s.emits ?? []).includes(item.eventType)).map((s) => s.name);
    return emitting.length ? emitting : ["stream"];
  }

  add(item) {
    const now = performance.now();
    if (this.t0 === null) this.t0 = now;
    const entry = { ...item, t: now - this.t0 };
    this.items.push(entry);
    const li = document.createElement("li");
    const time = document.createElement("span");
    time.className = "t";
    time.textContent = `+${entry.t.toFixed(0)} ms`;
    const type = document.createElement("span");
    type.className = "type";
    type.textContent = shortType(item.eventType);
    const where = document.createElement("span");
    where.className = "lane";
    where.textContent = this.lanesFor(item).join(", ");
    const payload = document.createElement("span");
    payload.className = "payload";
    payload.textContent = preview(item);
    li.append(time, type, where, payload);
    if (item.eventType === "Error") li.classList.add("error");
    this.list.append(li);
    while (this.list.childElementCount > 300) this.list.firstElementChild.remove();
    this.schedule();
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.draw();
    });
  }

  draw() {
    if (!this.items.length) {
      this.svgBox.replaceChildren();
      return;
    }
    const lanes = [];
    const steps = this.workflow ? this.workflow.steps.map((s) => s.name) : [];
    for (const name of steps) lanes.push(name);
    const placed = this.items.map((item) => ({ item, lanes: this.lanesFor(item) }));
    for (const p of placed) for (const lane of p.lanes) if (!lanes.includes(lane)) lanes.push(lane);
    const labelW = Math.min(160, Math.max(...lanes.map((l) => textWidth(l.slice(0, 22), 11))) + 12);
    const width = Math.max(320, Math.floor(this.svgBox.clientWidth || 560));
    const laneH = 26;
    const top = 8;
    const axisH = 22;
    const height = top + lanes.length * laneH + axisH;
    const span = Math.max(this.items[this.items.length - 1].t, 1);
    const plotW = width - labelW - 16;
    const xOf = (t) => labelW + 6 + (t / span) * plotW;
    const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "timeline", role: "img" });
    svg.append(el("title", {}, `Timeline: ${this.items.length} stream items over ${span.toFixed(0)} ms`));
    lanes.forEach((lane, i) => {
      const y = top + i * laneH;
      const short = lane.length > 22 ? `${lane.slice(0, 21)}…` : lane;
      const label = el(
        "text",
        { x: labelW - 4, y: y + laneH / 2 + 4, "text-anchor": "end", class: "lane-label", "data-lane": lane },
        short,
      );
      svg.append(el("rect", { x: 0, y, width, height: laneH, class: i % 2 ? "lane odd" : "lane" }), label);
    });
    for (const { item, lanes: its } of placed) {
      for (const lane of its) {
        const y = top + lanes.indexOf(lane) * laneH + laneH / 2;
        const kind =
          item.eventType === "Error" ? "error"
          : item.eventType === "InputRequested" ? "input"
          : item.eventType === STOP ? "stop"
          : item.eventType === START ? "start"
          : "event";
        const dot = el("circle", { cx: xOf(item.t), cy: y, r: 5, class: `dot ${kind}` });
        dot.append(el("title", {}, `${shortType(item.eventType)} at +${item.t.toFixed(0)} ms`));
        svg.append(dot);
      }
    }
    const axisY = top + lanes.length * laneH + 14;
    svg.append(
      el("text", { x: labelW + 6, y: axisY, class: "axis" }, "0 ms"),
      el("text", { x: width - 10, y: axisY, "text-anchor": "end", class: "axis" }, `${span.toFixed(0)} ms`),
    );
    this.svgBox.replaceChildren(svg);
  }
}

/** A one-line text preview of an item's own fields. */
export function preview(item) {
  const rest = {};
  for (const [key, value] of Object.entries(item)) {
    if (key !== "eventType" && key !== "event_type" && key !== "type") rest[key] = value;
  }
  let text;
  try {
    text = JSON.stringify(rest, (k, v) => (v instanceof Uint8Array ? `<${v.length} bytes>` : v));
  } catch {
    text = String(rest);
  }
  if (text === "{}") return "";
  return text.length > 90 ? `${text.slice(0, 89)}…` : text;
}
