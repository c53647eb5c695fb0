// A run on a blazen_py.server, followed from this page: what `handler.handOff()` and
// `reattach()` give. The same methods as a WorkflowHandler (streamEvents, respondToInput,
// result, abort), over the service's HTTP API with fetch. The stream reconnects after a
// dropped connection from the last item seen (Last-Event-ID); a page that closed can
// reattach by run id. What the server sends is data: parsed as JSON, never evaluated,
// and shown by pages as text.

import * as errors from "./errors.js";

const { RemoteError, InputRequestError, HandlerStateError, WorkflowError } = errors;

const RUN_ENDED = "blazen::RunEnded";
const ENDED = ["completed", "failed", "cancelled"];
const ENGINE_KEYS = { event_type: "eventType", request_id: "requestId", error_type: "errorType", active_steps: "activeSteps" };
const RECONNECTS = 40; // about a minute of retries (0.1 s more each time, at most 2 s apart), as remote.py

// The state codec (bytes, big integers, $-keys, __proto__ kept a key): blazen.js's own
// encoder and decoder, handed over once at import, so both sides read values alike.
let codec = null;

/** Called by blazen.js with its codec: (decode, encode). */
export function useCodec(decode, encode) {
  codec = { decode, encode };
}

function decodeValue(value) {
  return codec.decode(value);
}

function encodeValue(value) {
  return codec.encode(value);
}

function baseUrl(url) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    throw new RemoteError(`the server URL must be an absolute http(s) URL, got ${String(url)}`, {});
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new RemoteError(`the server URL must be an absolute http(s) URL, got ${String(url)}`, {});
  }
  return parsed.href.replace(/\/+$/, "");
}

// The error for a refusal: the server's own type where the API has one.
function refused(status, answer, what) {
  const error = answer && typeof answer === "object" ? answer.error : null;
  const kind = error && typeof error.type === "string" ? error.type : null;
  const message = error && typeof error.message === "string" ? `: ${error.message.slice(0, 500)}` : "";
  const text = `${what}: the server answered ${status}${message}`;
  if (kind === "InputRequestError") return new InputRequestError(text, {});
  if (kind === "HandlerStateError") return new HandlerStateError(text, {});
  return new RemoteError(text, { status, errorType: kind });
}

/** A stream item as the server sends it (Python's keys) -> as a WorkflowHandler gives it. */
function jsItem(fields) {
  if ("type" in fields && fields.event_type !== "InputRequested" && fields.event_type !== "Error") {
    const out = { ...fields };
    if (out.event_type === out.type) {
      delete out.event_type;
      out.eventType = fields.type;
    }
    return out;
  }
  const out = {};
  for (const [key, value] of Object.entries(fields)) out[ENGINE_KEYS[key] ?? key] = value;
  if (Array.isArray(out.activeSteps)) {
    out.activeSteps = out.activeSteps.map((a) => ({ step: a.step, eventType: a.event_type }));
  }
  return out;
}

export class RemoteHandler {
  #url;
  #runId;
  #headers;
  #seen = -1;

  /** Follow run `runId` on the server at `url`; `options`: {token}. */
  constructor(url, runId, options = {}) {
    this.#url = baseUrl(url);
    if (typeof runId !== "string" || runId === "") {
      throw new RemoteError(`runId must be a non-empty string, got ${String(runId)}`, {});
    }
    this.#runId = runId;
    const token = options && options.token;
    this.#headers = token ? { Authorization: `Bearer ${token}` } : {};
  }

  /** Reattach to a run by id (from any page or process); rejects if the server does not know it. */
  static async attach(url, runId, options = {}) {
    const handler = new RemoteHandler(url, runId, options);
    await handler.status();
    return handler;
  }

  get runId() {
    return this.#runId;
  }

  #path(suffix = "") {
    return `${this.#url}/runs/${encodeURIComponent(this.#runId)}${suffix}`;
  }

  async #request(method, url, body = undefined) {
    const headers = { ...this.#headers };
    const init = { method, headers, redirect: "error" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch (cause) {
      throw new RemoteError(`the server at ${this.#url} could not be reached: ${cause && cause.message}`, { status: null });
    }
    let answer = null;
    try {
      answer = await response.json();
    } catch {
      answer = null;
    }
    return [response.status, answer];
  }

  /** {runId, workflow, status: 'queued'|'running'|'completed'|'failed'|'cancelled', ...}. */
  async status() {
    return this.#status("", false);
  }

  // `patient`: a GET is safe to repeat, so ride out a server restarting (connection refused).
  async #status(query, patient) {
    let status, answer;
    for (let failures = 0; ; failures++) {
      try {
        [status, answer] = await this.#request("GET", this.#path(query));
        break;
      } catch (error) {
        if (!patient || !(error instanceof RemoteError) || error.status !== null || failures >= RECONNECTS) throw error;
        await new Promise((resolve) => setTimeout(resolve, Math.min(100 * (failures + 1), 2000)));
      }
    }
    if (status !== 200 || !answer || typeof answer !== "object") throw refused(status, answer, `status of run ${this.#runId}`);
    return answer;
  }

  /** Resolves to {data, runId, type, event} once the run completes there; rejects with its typed error. */
  async result() {
    let info;
    do {
      info = await this.#status("?wait=25", true);
    } while (!ENDED.includes(info.status));
    if (info.status === "completed") {
      const data = decodeValue(info.result);
      const event = { type: "blazen::StopEvent", result: data };
      return { data, runId: this.#runId, type: event.type, event };
    }
    const Kind = errors[info.error_type] && errors[info.error_type].prototype instanceof WorkflowError ? errors[info.error_type] : WorkflowError;
    throw new Kind(typeof info.error === "string" ? info.error : `run ${this.#runId} ${info.status}`, {
      step: typeof info.step === "string" ? info.step : null,
      runId: this.#runId,
    });
  }

  /** Call `callback` (may be async) with every stream item until the run ends there. */
  async streamEvents(callback) {
    let failures = 0;
    for (;;) {
      const headers = { ...this.#headers, Accept: "text/event-stream" };
      if (this.#seen >= 0) headers["Last-Event-ID"] = String(this.#seen);
      let response;
      try {
        response = await fetch(this.#path("/events"), { headers, redirect: "error" });
      } catch {
        response = null;
      }
      if (response !== null && response.status !== 200) {
        let answer = null;
        try {
          answer = await response.json();
        } catch {
          answer = null;
        }
        throw refused(response.status, answer, `events of run ${this.#runId}`);
      }
      if (response !== null) {
        const ended = await this.#read(response, callback, () => (failures = 0));
        if (ended) return;
      }
      failures += 1;
      if (failures > RECONNECTS) throw new RemoteError(`lost the event stream of run ${this.#runId}`, { status: null });
      await new Promise((resolve) => setTimeout(resolve, Math.min(100 * failures, 2000)));
    }
  }

  // Read one SSE response; true when the run's end came, false when the connection dropped.
  async #read(response, callback, onItem) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    try {
      for (;;) {
        let chunk;
        try {
          chunk = await reader.read();
        } catch {
          return false;
        }
        if (chunk.done) return false;
        buffer += decoder.decode(chunk.value, { stream: true }).replace(/\r\n?/g, "\n");
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const fields = {};
          for (const line of block.split("\n")) {
            if (line.startsWith(":")) continue;
            const at = line.indexOf(":");
            if (at < 0) continue;
            const name = line.slice(0, at);
            const value = line.slice(at + 1).replace(/^ /, "");
            fields[name] = name === "data" && fields.data !== undefined ? `${fields.data}\n${value}` : value;
          }
          if (fields.data === undefined) continue;
          if (!/^\d+$/.test(fields.id ?? "")) throw new RemoteError("the server sent a stream item without a numeric id", {});
          this.#seen = Number(fields.id);
          let item;
          try {
            item = decodeValue(JSON.parse(fields.data));
          } catch (cause) {
            throw new RemoteError(`the server sent an unreadable stream item: ${cause && cause.message}`, {});
          }
          if (!item || typeof item !== "object" || typeof item.event_type !== "string") {
            throw new RemoteError("the server sent a stream item that is not an object with an event_type", {});
          }
          if (item.event_type === RUN_ENDED) return true;
          onItem();
          await callback(jsItem(item));
        }
      }
    } finally {
      reader.cancel().catch(() => {});
    }
  }

  /** Answer the run's input request `requestId` (a Promise: it goes over HTTP). */
  async respondToInput(requestId, response) {
    const [status, answer] = await this.#request("POST", this.#path("/input"), {
      request_id: requestId,
      response: encodeValue(response),
    });
    if (status !== 202) throw refused(status, answer, `the answer to ${requestId}`);
  }

  /** Cancel the run there; result() then rejects with WorkflowAbortedError. */
  async abort() {
    const [status, answer] = await this.#request("POST", this.#path("/abort"));
    if (status !== 202 && status !== 409) throw refused(status, answer, `abort of run ${this.#runId}`);
  }

  /** Hand `snapshot` to the server (POST /runs/continue); a 409 RunExistsError means it already has the run. */
  async continueFrom(snapshot) {
    const [status, answer] = await this.#request("POST", `${this.#url}/runs/continue`, { snapshot });
    const kind = answer && answer.error && answer.error.type;
    if (status === 202 || (status === 409 && kind === "RunExistsError")) return;
    throw refused(status, answer, `hand-off of run ${this.#runId}`);
  }
}

/** Reattach to the run `runId` on the server at `url`; `options`: {token}. */
export function reattach(url, runId, options = {}) {
  return RemoteHandler.attach(url, runId, options);
}
