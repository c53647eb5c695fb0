// Drawings of the playground: a workflow's graph and a run's timeline.
//
// The drawings are made by blazen_py itself (blazen_py/_draw, the renderer notebooks use
// too), reached through the playground's Python helper (playground.py), as element trees:
// [tag, {attribute: value}, ...children], a child being a tree or a text string. This file
// only turns such a tree into DOM nodes, and keeps the list of stream items as text.
// Every label is set with textContent: names come from user code and are never HTML.

const SVG = "http://www.w3.org/2000/svg";
// What a drawing may contain: the renderer's own tags and attribute names. Anything else is
// a bug (or a tree that did not come from it), and is dropped rather than built.
const TAGS = new Set(["svg", "g", "rect", "circle", "path", "text", "tspan", "title", "desc", "defs", "marker"]);
const ATTRIBUTE = /^[a-zA-Z][a-zA-Z0-9:-]*$/;

/** DOM nodes (SVG namespace) from a drawing tree. */
export function build(tree) {
  if (typeof tree === "string") return document.createTextNode(tree);
  const [tag, attrs, ...children] = tree;
  if (!TAGS.has(tag)) return document.createTextNode("");
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (!ATTRIBUTE.test(name) || /^on/i.test(name) || /href/i.test(name) || name === "xmlns") continue;
    node.setAttribute(name, String(value));
  }
  for (const child of children) node.append(build(child));
  return node;
}

/** Put a drawing tree into `container` (replacing what was there); returns its root. */
export function draw(container, tree) {
  const root = build(tree);
  container.replaceChildren(root);
  return root;
}

/** A short label for an event type: 'blazen::StopEvent' -> 'StopEvent'. */
export function shortType(type) {
  return type.startsWith("blazen::") ? type.slice(8) : type;
}

/** Span items draw the timeline's spans; they are not listed as stream items. */
export function isSpanItem(item) {
  return typeof item.eventType === "string" && /^blazen::(Step|InputAnswered)/.test(item.eventType);
}

/** Mark the nodes a stream item touched: its event type, the steps that accept it (they
 * receive it) and the step it names, if any. */
export function markGraph(svg, item) {
  if (!svg || isSpanItem(item)) return;
  // A child's items carry the sub-workflow steps down to it as `path`: nested nodes say theirs.
  const path = JSON.stringify(Array.isArray(item.path) ? item.path : []);
  for (const node of svg.querySelectorAll("g.node")) {
    if ((node.dataset.path || "[]") !== path) continue;
    const receives = node.dataset.accepts && JSON.parse(node.dataset.accepts).includes(item.eventType);
    if (node.dataset.event === item.eventType || receives || (item.step && node.dataset.step === item.step)) {
      node.classList.add(item.eventType === "Error" && node.dataset.step === item.step ? "failed" : "seen");
    }
  }
}

/**
 * A cell's timeline: `drawTree(width)` gives the drawing (made in Python from the run's
 * stream and span items); this redraws it at most once a frame, and lists the stream items
 * as text.
 */
export class Timeline {
  constructor(svgBox, list, drawTree) {
    this.svgBox = svgBox;
    this.list = list;
    this.drawTree = drawTree;
    this.reset();
  }

  reset() {
    this.t0 = null;
    this.count = 0;
    this.svgBox.replaceChildren();
    this.list.replaceChildren();
    this.pending = false;
  }

  /** List a stream item (span items are only drawn). */
  add(item) {
    this.schedule();
    if (isSpanItem(item)) return;
    const now = performance.now();
    if (this.t0 === null) this.t0 = now;
    this.count += 1;
    const li = document.createElement("li");
    const time = document.createElement("span");
    time.className = "t";
    time.textContent = `+${(now - this.t0).toFixed(0)} ms`;
    const type = document.createElement("span");
    type.className = "type";
    type.textContent = shortType(item.eventType);
    const where = document.createElement("span");
    where.className = "lane";
    where.textContent = item.step ?? "";
    const payload = document.createElement("span");
    payload.className = "payload";
    payload.textContent = preview(item);
    li.append(time, type, where, payload);
    if (item.eventType === "Error") li.classList.add("error");
    this.list.append(li);
    while (this.list.childElementCount > 300) this.list.firstElementChild.remove();
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
    const width = Math.max(300, Math.floor(this.svgBox.clientWidth || 560));
    const tree = this.drawTree(width);
    if (tree === null) this.svgBox.replaceChildren();
    else draw(this.svgBox, tree);
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
