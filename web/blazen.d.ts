// Type declarations for blazen.js: the WASM workflow SDK's API over the blazen_py engine.

/** A value persistable state can hold. */
export type StateValue =
  | string
  | number
  | boolean
  | null
  | Uint8Array
  | StateValue[]
  | { [key: string]: StateValue };

/** An event: a plain object with a string `type`. */
export interface WorkflowEvent {
  type: string;
  [field: string]: unknown;
}

/** What a step returns: an event, several events (fan-out), or nothing. */
export type StepResult = WorkflowEvent | WorkflowEvent[] | undefined | null | void;

/** A step handler, sync or async. */
export type StepHandler = (event: any, ctx: WasmContext) => StepResult | Promise<StepResult>;

export interface StepOptions {
  /** Event types the step may produce (used by validate()). */
  emits?: string[];
  /** Seconds one invocation may take. */
  timeout?: number;
  /** At most this many invocations waiting at once. */
  maxConcurrency?: number;
  /** Try a failed invocation again (overrides the workflow's setRetryPolicy). */
  retry?: RetryOptions | null;
  /** A sync step that uses no ctx: chains of pure steps run in one call into the engine. */
  pure?: boolean;
}

/** A step's retry policy; delays in seconds. */
export interface RetryOptions {
  /** Attempts in all, the first included (default 3; 1: never retried). */
  maxAttempts?: number;
  /** Seconds before the second attempt (default 1). */
  initialDelay?: number;
  /** No delay is longer (default 30). */
  maxDelay?: number;
  /** How the delay grows after the n-th failure: initialDelay * 2^(n-1), * n, or fixed. */
  backoff?: "exponential" | "linear" | "fixed";
  /** Spread each delay at random over [delay / 2, delay]. */
  jitter?: boolean;
  /** Which errors are retried: names matched against the thrown error's `name`, or a
   * predicate given the thrown error (for a step timeout, {name: 'StepTimeoutError',
   * message}). Default: all. Never a NonRetryableError (or any error with
   * `retryable === false`); always a RetryableError. */
  retryOn?: string[] | ((error: any) => boolean) | null;
}

/** What ctx.retryInfo() returns. */
export interface RetryInfo {
  /** 1 for the first attempt. */
  attempt: number;
  maxAttempts: number;
  /** The previous attempt's error, or null on the first. */
  lastError: { name: string; message: string } | null;
  /** Seconds before another attempt if this one fails (before jitter); null on the last. */
  nextDelay: number | null;
}

/** One item of a run's stream. */
/**
 * One stream item. An event's own fields reach you unchanged, plus `eventType` (unless the
 * event has a field of that name: then read `type`). The engine's own items name their
 * keys in JS style.
 */
export interface StreamEvent {
  /** The event's type, or "InputRequested", or "Error". */
  eventType: string;
  type?: string;
  /** For InputRequested. */
  requestId?: string;
  prompt?: unknown;
  metadata?: unknown;
  /** For Error. */
  error?: string;
  errorType?: string;
  step?: string | null;
  /** For Error: the steps that were running when the run timed out or was aborted. */
  activeSteps?: Array<{ step: string; eventType: string }>;
  /** For span items ('blazen::StepStarted' / 'blazen::StepFinished', with `spans: true`):
   * the invocation's id, the event type it handled, how it ended, performance-clock seconds. */
  span?: number;
  handling?: string;
  outcome?: "completed" | "failed" | "interrupted" | "cancelled";
  at?: number;
  /** For 'blazen::StepRetrying': the attempt that failed, of maxAttempts, the seconds until
   * the next one, and the error (errorName, error: its message). StepStarted of a retry: attempt. */
  attempt?: number;
  maxAttempts?: number;
  delay?: number;
  errorName?: string;
  [field: string]: unknown;
}

export interface WorkflowResult<T = any> {
  /** The StopEvent's `result`. */
  data: T;
  /** The run's id (UUID v4). */
  runId: string;
  /** The StopEvent's type ("blazen::StopEvent"). */
  type: string;
  /** The StopEvent itself. */
  event: { type: string; result?: T; [field: string]: unknown };
}

export interface ValidationProblem {
  kind: "no-start-step" | "unreachable-step" | "unaccepted-event" | "no-stop-path" | "dead-end";
  message: string;
  step: string | null;
  eventType: string | null;
  /** Every step concerned (a dead-end cycle names all of its steps). */
  steps: string[];
}

/** A JSON-compatible snapshot; see docs for the format. */
export interface Snapshot {
  format: "blazen_py/snapshot";
  version: number;
  workflow: string;
  run_id: string;
  status: "running" | "paused" | "completed" | "failed";
  [field: string]: unknown;
}

export interface InitOptions {
  /** Where the Pyodide runtime lives (default: ./pyodide/ beside blazen.js). */
  indexURL?: string;
  /** Boot progress, 0..1. */
  onProgress?: (progress: { stage: string; progress: number; message: string }) => void;
  /** Environment visible to Python as os.environ (e.g. OPENROUTER_API_KEY). */
  env?: Record<string, string>;
  /**
   * Boot from the build's memory snapshot when there is one (default true). Any mismatch or
   * load error falls back to a normal boot, reported through onProgress (stage "fallback").
   */
  snapshot?: boolean;
  /**
   * Run the page's asyncio callbacks from one ready queue, many per JS task
   * (`blazen_py.install_fast_loop()`; default false). A later `init({fastLoop: true})` installs it too.
   */
  fastLoop?: boolean;
}

/** Boot Pyodide and blazen_py; idempotent. Resolves to the Pyodide instance. */
export default function init(options?: InitOptions): Promise<any>;

/** A FieldStore for BlazenState `meta.storeBy`: synchronous save/load. */
export interface FieldStore {
  save(key: string, value: unknown, ctx: WasmContext): void;
  load(key: string, ctx: WasmContext): unknown;
}

/**
 * Register a BlazenState class so ctx.get can rebuild it (needed in a fresh page), under
 * `key` (default: its name; give one when two classes share a name).
 */
export function registerStateClass<T extends new (...args: any[]) => any>(cls: T, key?: string): T;

export interface StateNamespace {
  set(key: string, value: StateValue): void;
  /** The value, or `defaultValue` (null) when the key is missing or holds null. */
  get<T = StateValue>(key: string, defaultValue?: T | null): T | null;
  setBytes(key: string, data: Uint8Array): void;
  getBytes(key: string, defaultValue?: Uint8Array | null): Uint8Array | null;
  delete(key: string): void;
  has(key: string): boolean;
  keys(): string[];
}

export interface SessionNamespace {
  set(key: string, value: unknown): void;
  get<T = any>(key: string, defaultValue?: T | null): T | null;
  has(key: string): boolean;
  delete(key: string): void;
  keys(): string[];
}

/** The context a step receives. Methods are synchronous except requestInput. */
export interface WasmContext {
  set(key: string, value: StateValue | object): void;
  /** The value, or `defaultValue` (null) when the key is missing or holds null. Keys are flat. */
  get<T = any>(key: string, defaultValue?: T | null): T | null;
  setBytes(key: string, data: Uint8Array): void;
  getBytes(key: string, defaultValue?: Uint8Array | null): Uint8Array | null;
  sendEvent(event: WorkflowEvent, options?: { step?: string } | null): void;
  /** Fan-in: the listed events in order once one of each has arrived for this step, else null. */
  collectEvents<E extends WorkflowEvent = WorkflowEvent>(event: WorkflowEvent, types: string[]): E[] | null;
  writeEventToStream(event: WorkflowEvent): void;
  requestInput<T = any>(prompt: unknown, metadata?: unknown): Promise<T>;
  /** Wait for a matching event (taken by the waiter); WaitTimeoutError after `timeout` s. */
  waitForEvent<E extends WorkflowEvent = WorkflowEvent>(
    type: string,
    options?: { where?: Record<string, StateValue>; timeout?: number | null } | null,
  ): Promise<E>;
  /** A durable sleep: its absolute deadline is saved in snapshots. */
  sleep(seconds: number): Promise<void>;
  /** Aborts when the run is aborted, times out, fails, or ends with its first StopEvent. */
  readonly signal: AbortSignal;
  /** Which attempt this is (1, 2, ...) under the step's retry policy. */
  readonly attempt: number;
  retryInfo(): RetryInfo;
  /** runAgent, durably: completed turns and tool results survive a reload; approvals are durable requests. */
  runAgent(model: CompletionModel, messages: ChatMessage[], tools: AgentTool[], options?: AgentOptions | null): Promise<AgentResult>;
  runId(): string;
  readonly workflowName: string;
  readonly state: StateNamespace;
  readonly session: SessionNamespace;
}

export type SessionPausePolicy = "continue" | "pause";

export interface RunOptions {
  /** Make the run durable: checkpoints in IndexedDB (default store, or a named one). */
  checkpoint?: "indexeddb" | { store: string } | null;
  /** Put step span items ('blazen::StepStarted' / 'blazen::StepFinished') on the stream. */
  spans?: boolean;
  /** resumeCheckpoint: resume although the workflow's steps changed since the snapshot. */
  allowDefinitionChange?: boolean;
}

/** Options of resume / resumeWithSerializableRefs. */
export interface ResumeOptions {
  spans?: boolean;
  /** Resume a snapshot taken by this workflow with other steps (refused by default). */
  allowDefinitionChange?: boolean;
}

export class Workflow {
  constructor(name: string);
  static builder(name: string): WorkflowBuilder;
  static fromBuilder(builder: WorkflowBuilder): Workflow;
  readonly name: string;
  addStep(name: string, eventTypes: string[], handler: StepHandler, options?: StepOptions | null): this;
  addSubworkflowStep(
    name: string,
    eventTypes: string[],
    child: Workflow,
    options?: {
      input?: (event: WorkflowEvent) => Record<string, unknown>;
      output?: (result: WorkflowResult, event: WorkflowEvent) => WorkflowEvent | WorkflowEvent[] | null | undefined;
      timeout?: number | null;
    } | null,
  ): this;
  addParallelSubworkflows(
    name: string,
    eventTypes: string[],
    children: Workflow[],
    options?: {
      input?: (event: WorkflowEvent) => Record<string, unknown>;
      /** `results` is the list of results for join "all", the first result for "first". */
      output?: (results: any, event: WorkflowEvent) => WorkflowEvent | WorkflowEvent[] | null | undefined;
      join?: "all" | "first";
      timeout?: number | null;
    } | null,
  ): this;
  addMapStep(
    name: string,
    eventTypes: string[],
    child: Workflow,
    options: {
      items: (event: WorkflowEvent) => unknown[];
      output?: (results: WorkflowResult[], event: WorkflowEvent) => WorkflowEvent | WorkflowEvent[] | null | undefined;
      concurrency?: number;
    },
  ): this;
  setTimeout(seconds: number | null): this;
  setSessionPausePolicy(policy: SessionPausePolicy): this;
  setRetryPolicy(policy: RetryOptions | null): this;
  registerSerializableRef(
    typeTag: string,
    match: (new (...args: any[]) => any) | ((value: unknown) => boolean),
    serialize: (value: any) => Uint8Array,
  ): this;
  validate(): ValidationProblem[];
  run<T = any>(input?: object, options?: RunOptions | null): Promise<WorkflowResult<T>>;
  runStreaming<T = any>(
    input: object | null,
    callback: (event: StreamEvent) => void,
    options?: { spans?: boolean } | null,
  ): Promise<WorkflowResult<T>>;
  runWithHandler(input?: object, options?: RunOptions | null): Promise<WorkflowHandler>;
  /**
   * `createdAt`: when the run started, in milliseconds since the epoch (`new Date(createdAt)`).
   * Skipped entries go to `onBad` (a BadCheckpointError with its `key`), else console.warn.
   */
  unfinishedRuns(
    options?: (RunOptions & { onBad?: (error: import("./errors.js").BadCheckpointError) => void }) | null,
  ): Promise<{ runId: string; createdAt: number; status: string }[]>;
  /** Rejects with RunOwnedError when another tab or call owns the run, unless `wait` says to wait. */
  resumeCheckpoint(
    runId: string,
    options?: (RunOptions & ResumeOptions & { wait?: number | boolean }) | null,
  ): Promise<WorkflowHandler>;
  resume(snapshot: Snapshot | string, options?: ResumeOptions | null): Promise<WorkflowHandler>;
  resumeWithSerializableRefs(
    snapshot: Snapshot | string,
    deserializers: Record<string, (bytes: Uint8Array) => unknown> | null,
    options?: ResumeOptions | null,
  ): Promise<WorkflowHandler>;
}

export class WorkflowBuilder {
  constructor(name: string);
  readonly name: string;
  addStep(name: string, eventTypes: string[], handler: StepHandler, options?: StepOptions | null): this;
  setTimeout(seconds: number | null): this;
  setSessionPausePolicy(policy: SessionPausePolicy): this;
  setRetryPolicy(policy: RetryOptions | null): this;
  registerSerializableRef(
    typeTag: string,
    match: (new (...args: any[]) => any) | ((value: unknown) => boolean),
    serialize: (value: any) => Uint8Array,
  ): this;
  build(): Workflow;
}

export class WorkflowHandler {
  private constructor();
  readonly runId: string;
  readonly workflowName: string;
  readonly status: "running" | "paused" | "completed" | "failed";
  streamEvents(callback: (event: StreamEvent) => void | Promise<void>): Promise<void>;
  /** An event from outside: routed now, or queued (and in the snapshot) while paused. */
  sendEvent(event: WorkflowEvent, options?: { step?: string } | null): void;
  respondToInput(requestId: string, response: unknown): void;
  snapshot(metadata?: Record<string, StateValue> | null): Promise<Snapshot>;
  pause(metadata?: Record<string, StateValue> | null): Promise<Snapshot>;
  resumeInPlace(): Promise<void>;
  abort(): void;
  result<T = any>(): Promise<WorkflowResult<T>>;
  /** Pause, send the snapshot to a blazen_py.server, follow the run there. */
  handOff(url: string, options?: { token?: string } | null): Promise<RemoteHandler>;
}

/** A run on a blazen_py.server (from handOff or reattach). */
export class RemoteHandler {
  constructor(url: string, runId: string, options?: { token?: string } | null);
  static attach(url: string, runId: string, options?: { token?: string } | null): Promise<RemoteHandler>;
  readonly runId: string;
  status(): Promise<{ run_id: string; workflow: string | null; status: "queued" | "running" | "completed" | "failed" | "cancelled"; result?: unknown; error?: string; error_type?: string }>;
  streamEvents(callback: (event: StreamEvent) => void | Promise<void>): Promise<void>;
  respondToInput(requestId: string, response: unknown): Promise<void>;
  result<T = any>(): Promise<WorkflowResult<T>>;
  abort(): Promise<void>;
  continueFrom(snapshot: Snapshot): Promise<void>;
}

/** Reattach to a run on a blazen_py.server by its id. */
export function reattach(url: string, runId: string, options?: { token?: string } | null): Promise<RemoteHandler>;

export class ChatMessage {
  constructor(role: string, content: string, extra?: Record<string, unknown>);
  role: "system" | "user" | "assistant" | "tool" | string;
  content: string;
  static system(content: string): ChatMessage;
  static user(content: string): ChatMessage;
  static assistant(content: string): ChatMessage;
  static tool(content: string, toolCallId: string): ChatMessage;
}

export interface ModelOptions {
  model?: string;
  baseUrl?: string;
  timeout?: number | null;
  maxRetries?: number;
  retryBackoff?: number;
  maxRetryDelay?: number;
  headers?: Record<string, string>;
  options?: Record<string, unknown>;
}

export interface CompletionResponse {
  content: string;
  model: string;
  finishReason: string | null;
  id: string | null;
  usage: { promptTokens: number | null; completionTokens: number | null; totalTokens: number | null } | null;
  /** Tool calls, OpenAI format ({id, type: 'function', function: {name, arguments (JSON text)}}). */
  toolCalls: Array<{ id: string; type: "function"; function: { name: string; arguments: string } }>;
  /** The provider's cost in USD (OpenRouter's usage.cost), or null. */
  cost: number | null;
}

/** A function the model may call. */
export interface AgentTool {
  name: string;
  description: string;
  /** JSON Schema of the arguments (validated before the handler runs; see docs/js-api.md). */
  parameters?: Record<string, unknown> | null;
  /** Sync or async; returns a JSON value, or {data, llmOverride}. A throw is reported to the model. */
  handler: (args: any) => unknown | Promise<unknown>;
  /** true, or a predicate over the arguments: the call waits for approval first. */
  needsApproval?: boolean | ((args: any) => boolean | Promise<boolean>);
}

export interface AgentOptions {
  toolConcurrency?: number;
  maxIterations?: number;
  systemPrompt?: string;
  temperature?: number;
  maxTokens?: number;
  addFinishTool?: boolean;
  options?: Record<string, unknown>;
  onChunk?: (chunk: { delta: string; index: number }) => void | Promise<void>;
  /** runAgent only (ctx.runAgent puts these items on the run's stream). */
  onEvent?: (item: Record<string, unknown>) => void;
  /** runAgent only: decides calls of tools that need approval. */
  approve?: (name: string, args: any) => boolean | { approved: boolean; reason?: string } | Promise<boolean | { approved: boolean; reason?: string }>;
}

export interface AgentResult {
  content: string;
  messages: Array<Record<string, unknown>>;
  iterations: number;
  totalUsage: { promptTokens: number; completionTokens: number; totalTokens: number } | null;
  totalCost: number | null;
  toolResults: Array<{ id: string; name: string; arguments: unknown; data: unknown; error: string | null; content: string }>;
  finishReason: string | null;
}

/** Recorded model calls: record once, replay with no network. */
export class Cassette {
  constructor();
  static fromJSON(data: string | Record<string, unknown>): Cassette;
  toJSON(): Record<string, unknown>;
}

export function runAgent(model: CompletionModel, messages: ChatMessage[], tools: AgentTool[], options?: AgentOptions | null): Promise<AgentResult>;
export function extract(
  model: CompletionModel,
  messages: ChatMessage[],
  schema: Record<string, unknown>,
  options?: { maxAttempts?: number; systemPrompt?: string; temperature?: number; maxTokens?: number } | null,
): Promise<any>;

export class CompletionModel {
  private constructor();
  static openrouter(options?: ModelOptions): CompletionModel;
  static openai(options?: ModelOptions): CompletionModel;
  static openaiCompatible(options: ModelOptions & { baseUrl: string; model: string; apiKeyEnv?: string }): CompletionModel;
  static record(model: CompletionModel, cassette: Cassette): CompletionModel;
  static replay(cassette: Cassette | string | Record<string, unknown>): CompletionModel;
  complete(messages: ChatMessage[], options?: Record<string, unknown> | null): Promise<CompletionResponse>;
  stream(
    messages: ChatMessage[],
    onChunk: (chunk: { delta: string; index: number }) => void | Promise<void>,
    options?: Record<string, unknown> | null,
  ): Promise<CompletionResponse>;
}

// The error classes, generated from the Python side's declaration (blazen_py/_boundary.py).
export * from "./errors.js";
