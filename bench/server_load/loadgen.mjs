// A closed-loop load generator for the MCP tool server that costs the machine far less per call than the server
// does: node: built-ins only (CI needs no npm install), HTTP/1.1 written and read on raw keep-alive sockets.
// Measured on a busy 2-core machine against a stand-in server: node:http's client cost 0.08-0.13 ms of CPU per
// call when kept busy and 0.6-0.75 ms at ~200 calls/s on one connection (each call wakes the process with cold
// caches); these raw sockets 0.03 and 0.22 ms. A bare Node timer costs ~0.15 ms per wake-up there.
// bench/server.py runs it; by hand:
//
//   node bench/server_load/loadgen.mjs '<config as JSON>'
//
// The config (one JSON object on argv[2]; bench/server.py builds it from the page's client, app/client.py, so
// the headers and _meta have one source of truth):
//   urls         the MCP endpoints, e.g. ["http://127.0.0.1:8000/mcp"]; worker i calls urls[i % urls.length] (one
//                per replica); the healthz tool GETs /healthz beside it
//   connections  N closed-loop workers, each on its own keep-alive connection, each its own user
//   duration     seconds measured, after the warm-up
//   warmup       seconds run before measuring (not counted)
//   tool         "list_tasks", "add_task", or "healthz" (the HTTP floor: GET <base>/healthz, expect 200)
//   headers      {"add_task": {...}, "list_tasks": {...}}: every header of that tool's POST except the user's
//                and Host/Content-Length (Authorization, Accept, Content-Type, the protocol-version, method and
//                name headers)
//   user_header  the header naming the user (X-Todo-User); worker i sends "<user_prefix>-<i>"
//   user_prefix  distinct per run: every worker must start as a new user (its first task is number 1)
//   meta         the request's params._meta (protocol version, client info, capabilities)
//   seed         add_task calls each worker makes before the warm-up (default 0), so that list_tasks returns a
//                full page: with seed S, list_tasks {"limit": 20} must answer min(S, 20) tasks and total S
//   timeout      seconds before a request counts as failed (default 30)
//
// Bodies: {"jsonrpc":"2.0","id":n,"method":"tools/call","params":{"name":...,"arguments":...,"_meta":meta}};
// add_task {"title":"task <n>","priority":"high","tags":["bench"]} (n = the request's id), list_tasks {"limit":20}.
//
// Every answer is checked: HTTP 200; a JSON-RPC response (a JSON body, or the matching event of an event stream)
// with the request's id and a `result`; `isError` not true; structuredContent of the expected shape (add_task:
// the task, titled as sent, numbered one more than this user's previous task, from 1; list_tasks: `tasks` and
// `total` as seeded). healthz: HTTP 200. Anything else, a transport error or a timeout included, is an error, in
// any phase; the first few are described in `error_samples`.
//
// Output on stdout: a line "measuring" when the warm-up ends, a line "done" when the measured window ends (no
// call is started after it; those still in flight are waited for and not counted), then one JSON line:
//   {"tool", "connections", "calls", "errors", "error_samples", "wall_s", "calls_per_s", "p50_ms", "p95_ms",
//    "p99_ms", "max_ms", "cpu_ms", "cpu_user_ms", "cpu_system_ms", "cpu_ms_per_call"}
// calls are the checked answers that arrived within the window; latency percentiles are nearest-rank over
// them; cpu_ms is this process's CPU (user + system, every thread) within the window.
// Exit status 0, 1 when any answer failed its check, 2 on a bad config.

import net from "node:net";
import { performance } from "node:perf_hooks";

const ERROR_SAMPLES = 5;
const LIST_LIMIT = 20;
const RETRY_MS = 5; // after a failed call: a server that refuses at once is not hammered

function fail(message) {
  process.stderr.write(`loadgen: ${message}\n`);
  process.exit(2);
}

let config;
try {
  config = JSON.parse(process.argv[2] ?? "");
} catch {
  fail("pass the config as one JSON object, see the top of loadgen.mjs");
}
const tool = config.tool;
const connections = config.connections | 0;
const duration = Number(config.duration);
const warmup = Number(config.warmup ?? 0);
const seed = tool === "healthz" ? 0 : (config.seed ?? 0) | 0;
const timeoutMs = (config.timeout ?? 30) * 1000;
if (!["list_tasks", "add_task", "healthz"].includes(tool)) fail(`unknown tool ${JSON.stringify(tool)}`);
if (!(connections >= 1) || !(duration > 0) || !(warmup >= 0)) fail("connections >= 1, duration > 0, warmup >= 0");
const needed = config.headers?.add_task && config.headers?.[tool] && config.user_header && config.user_prefix;
if (tool !== "healthz" && !(needed && config.meta)) {
  fail("a tool needs headers (for add_task and the tool), user_header, user_prefix and meta");
}

if (!Array.isArray(config.urls) || config.urls.length === 0) fail("urls must be a non-empty list of MCP endpoints");
const targets = config.urls.map((url) => {
  const target = new URL(url);
  return {
    target,
    host: target.hostname.replace(/^\[|\]$/g, ""),
    port: Number(target.port || 80),
    hostHeader: `Host: ${target.host}\r\n`,
  };
});

// Requests: every byte fixed in advance but the id (add_task's title carries the same number) and the
// Content-Length that follows from it. Written as latin1, so every fixed byte must be ASCII (checked).
const ID = "\u0001"; // where the id goes: JSON.stringify escapes a control character, so no other is raw
const metaJson = JSON.stringify(config.meta ?? {});
function headBlock(name, user, { target, hostHeader }) {
  const lines = Object.entries(config.headers[name]).map(([key, value]) => `${key}: ${value}\r\n`);
  const path = `${target.pathname}${target.search}`;
  const head = `POST ${path} HTTP/1.1\r\n${hostHeader}${lines.join("")}${config.user_header}: ${user}\r\n`;
  if (!/^[\x01-\x7f]*$/.test(head)) fail(`the ${name} headers are not ASCII`);
  return head;
}
function bodyPieces(name, argumentsJson) {
  const body = `{"jsonrpc":"2.0","id":${ID},"method":"tools/call","params":{"name":${JSON.stringify(name)},"arguments":${argumentsJson},"_meta":${metaJson}}}`;
  if (!/^[\x01-\x7f]*$/.test(body)) fail(`the ${name} body is not ASCII`);
  const pieces = body.split(ID);
  return { pieces, fixedLength: body.length - (pieces.length - 1), ids: pieces.length - 1 };
}
const BODIES = {
  add_task: bodyPieces("add_task", `{"title":"task ${ID}","priority":"high","tags":["bench"]}`),
  list_tasks: bodyPieces("list_tasks", JSON.stringify({ limit: LIST_LIMIT })),
};

function postRequest(head, name, id) {
  const n = String(id);
  const { pieces, fixedLength, ids } = BODIES[name];
  return `${head}Content-Length: ${fixedLength + ids * n.length}\r\n\r\n${pieces.join(n)}`;
}
function healthzRequest({ target, hostHeader }) {
  return `GET ${new URL("/healthz", target).pathname} HTTP/1.1\r\n${hostHeader}\r\n`;
}

// Latencies of the measured window, in ms; grown by doubling (rarely: 2^16 first).
let latencies = new Float64Array(1 << 16);
let calls = 0;
let errors = 0;
const errorSamples = [];
let phase = "seed"; // seed -> warmup -> measure -> drain
let inFlight = 0;

function record(ms) {
  if (phase !== "measure") return;
  if (calls === latencies.length) {
    const bigger = new Float64Array(latencies.length * 2);
    bigger.set(latencies);
    latencies = bigger;
  }
  latencies[calls++] = ms;
}

/** The JSON-RPC message with this id in a complete event stream, or undefined. */
function fromEventStream(text, id) {
  for (const event of text.replace(/\r\n/g, "\n").split("\n\n")) {
    const data = event
      .split("\n")
      .filter((line) => line.startsWith("data:"))
      .map((line) => line.slice(5).trimStart())
      .join("\n");
    if (!data) continue;
    const message = JSON.parse(data);
    if (message && message.id === id) return message;
  }
  return undefined;
}

const isInt = Number.isInteger;

/** null when the answer is right, else what is wrong with it. */
function check(worker, name, id, status, eventStream, text) {
  if (status !== 200) return `HTTP ${status}`;
  if (name === "healthz") return null;
  let message;
  try {
    message = eventStream ? fromEventStream(text, id) : JSON.parse(text);
  } catch {
    return "not JSON";
  }
  if (!message || typeof message !== "object") return "no JSON-RPC message";
  if (message.id !== id) return `id ${JSON.stringify(message.id)}, expected ${id}`;
  const result = message.result;
  if (!result || typeof result !== "object") return "no result";
  if (result.isError === true) return "isError";
  const content = result.structuredContent;
  if (!content || typeof content !== "object") return "no structuredContent";
  if (name === "add_task") {
    if (content.title !== `task ${id}` || !isInt(content.id)) return "not the task added";
    if (content.id !== worker.lastTask + 1) return `task number ${content.id} after ${worker.lastTask}`;
    worker.lastTask = content.id;
    return null;
  }
  if (!Array.isArray(content.tasks) || !isInt(content.total)) return "not a task list";
  if (content.total !== seed || content.tasks.length !== Math.min(seed, LIST_LIMIT)) {
    return `${content.tasks.length} tasks of ${content.total}, expected ${Math.min(seed, LIST_LIMIT)} of ${seed}`;
  }
  for (const task of content.tasks) {
    if (!task || !isInt(task.id) || typeof task.title !== "string") return "a task without id or title";
  }
  return null;
}

const CRLF2 = Buffer.from("\r\n\r\n");

/** An HTTP/1.1 response read off one socket: status, head (lowercase), body once complete. */
class ResponseReader {
  constructor() {
    this.reset();
  }

  reset() {
    this.buffer = null;
    this.status = 0;
    this.bodyStart = -1;
    this.length = -1; // Content-Length, or -1 for chunked
    this.chunked = false;
    this.close = false;
    this.eventStream = false;
  }

  /** Adds bytes; the body as a string once the response is complete, else null. Throws on a bad response. */
  push(chunk) {
    this.buffer = this.buffer === null ? chunk : Buffer.concat([this.buffer, chunk]);
    const buffer = this.buffer;
    if (this.bodyStart < 0) {
      const end = buffer.indexOf(CRLF2);
      if (end < 0) return null;
      const head = buffer.toString("latin1", 0, end).toLowerCase();
      if (!head.startsWith("http/1.")) throw new Error("not an HTTP/1 response");
      this.status = Number(head.slice(9, 12));
      this.bodyStart = end + 4;
      const length = /\r\ncontent-length: *(\d+)/.exec(head);
      this.chunked = /\r\ntransfer-encoding:[^\r]*chunked/.test(head);
      this.length = length && !this.chunked ? Number(length[1]) : this.chunked ? -1 : 0;
      this.close = /\r\nconnection: *close/.test(head) || head.startsWith("http/1.0");
      this.eventStream = /\r\ncontent-type: *text\/event-stream/.test(head);
    }
    if (!this.chunked) {
      if (buffer.length - this.bodyStart < this.length) return null;
      return buffer.toString("utf8", this.bodyStart, this.bodyStart + this.length);
    }
    return this.dechunk(buffer);
  }

  dechunk(buffer) {
    const parts = [];
    let at = this.bodyStart;
    for (;;) {
      const lineEnd = buffer.indexOf("\r\n", at);
      if (lineEnd < 0) return null;
      const size = parseInt(buffer.toString("latin1", at, lineEnd), 16);
      if (Number.isNaN(size)) throw new Error("a bad chunk size");
      if (size === 0) {
        if (buffer.indexOf(CRLF2, lineEnd) < 0) return null; // the empty line after any trailers
        return Buffer.concat(parts).toString("utf8");
      }
      if (buffer.length < lineEnd + 2 + size + 2) return null;
      parts.push(buffer.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
  }
}

class Worker {
  constructor(index) {
    this.index = index;
    this.endpoint = targets[index % targets.length];
    this.healthz = healthzRequest(this.endpoint);
    this.nextId = 0;
    this.lastTask = 0;
    this.seedLeft = seed;
    this.currentTool = tool;
    this.socket = null;
    this.waiting = false; // a request is out
    this.reader = new ResponseReader();
    if (tool !== "healthz") {
      const user = `${config.user_prefix}-${index}`;
      this.addHead = headBlock("add_task", user, this.endpoint);
      this.toolHead = headBlock(tool, user, this.endpoint);
    }
    this.next = this.next.bind(this);
    this.onData = this.onData.bind(this);
    this.onGone = this.onGone.bind(this);
  }

  connect() {
    const socket = net.connect({ host: this.endpoint.host, port: this.endpoint.port, noDelay: true });
    const mine = (handler) => (value) => this.socket === socket && handler(value); // not a dropped socket's
    socket.on("data", mine(this.onData));
    socket.on("error", mine(this.onGone));
    socket.on("close", mine(() => this.onGone(null)));
    this.socket = socket;
  }

  start(onSeeded) {
    this.onSeeded = onSeeded;
    this.next();
  }

  next() {
    if (phase === "drain") return;
    if (this.seedLeft === 0 && this.onSeeded) {
      const seeded = this.onSeeded;
      this.onSeeded = null;
      seeded(); // once every worker has seeded, next() is called on each
      return;
    }
    if (this.socket === null) this.connect();
    const seeding = this.seedLeft > 0;
    const name = seeding ? "add_task" : tool;
    this.currentTool = name;
    let request;
    if (name === "healthz") {
      this.id = 0;
      request = this.healthz;
    } else {
      this.id = ++this.nextId;
      request = postRequest(seeding ? this.addHead : this.toolHead, name, this.id);
    }
    this.waiting = true;
    inFlight += 1;
    this.started = performance.now();
    this.socket.write(request, "latin1");
  }

  onData(chunk) {
    if (!this.waiting) {
      this.drop(); // bytes nobody asked for: this connection cannot be trusted
      return;
    }
    let text;
    try {
      text = this.reader.push(chunk);
    } catch (error) {
      const seen = this.reader.buffer?.toString("latin1", 0, 600);
      this.drop();
      this.finish(error.message, seen);
      return;
    }
    if (text === null) return;
    const { status, eventStream, close } = this.reader;
    this.reader.reset();
    if (close) this.drop();
    this.finish(check(this, this.currentTool, this.id, status, eventStream, text), text);
  }

  timedOut(now) {
    if (!this.waiting || now - this.started < timeoutMs) return;
    this.drop();
    this.finish("timed out", "");
  }

  onGone(error) {
    if (this.socket === null) return;
    this.socket = null;
    this.reader.reset();
    if (this.waiting) this.finish(error ? `${error.code ?? ""} ${error.message}`.trim() : "connection closed", "");
  }

  drop() {
    const socket = this.socket;
    this.socket = null;
    this.reader.reset();
    if (socket !== null) socket.destroy();
  }

  finish(problem, text) {
    this.waiting = false;
    inFlight -= 1;
    if (problem === null) {
      if (this.seedLeft > 0) this.seedLeft -= 1;
      else record(performance.now() - this.started);
    } else {
      errors += 1;
      if (errorSamples.length < ERROR_SAMPLES) {
        const body = String(text ?? "").slice(0, 600);
        errorSamples.push({ worker: this.index, phase, tool: this.currentTool, what: problem, body });
      }
      if (this.seedLeft > 0) this.seedLeft = 0; // a failed seed fails every list check after it: stop seeding
    }
    if (phase === "drain") {
      if (inFlight === 0) report();
    } else if (problem === null) {
      this.next(); // at once: a closed loop
    } else {
      setTimeout(this.next, RETRY_MS);
    }
  }
}

let measureStart = 0;
let measureCpu = null;
let measureWall = 0;
let windowCpu = null;

function beginMeasuring() {
  phase = "measure";
  measureStart = performance.now();
  measureCpu = process.cpuUsage();
  process.stdout.write("measuring\n");
  setTimeout(endMeasuring, duration * 1000);
}

function endMeasuring() {
  windowCpu = process.cpuUsage(measureCpu);
  measureWall = (performance.now() - measureStart) / 1000;
  phase = "drain";
  process.stdout.write("done\n");
  if (inFlight === 0) report();
}

function percentile(sorted, q) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

let reported = false;
function report() {
  if (reported) return;
  reported = true;
  for (const worker of workers) worker.drop();
  const sorted = latencies.subarray(0, calls).sort();
  const cpuMs = (windowCpu.user + windowCpu.system) / 1000;
  const round = (x) => (x === null ? null : Math.round(x * 1000) / 1000);
  const answer = {
    tool,
    connections,
    calls,
    errors,
    error_samples: errorSamples,
    wall_s: round(measureWall),
    calls_per_s: round(calls / measureWall),
    p50_ms: round(percentile(sorted, 0.5)),
    p95_ms: round(percentile(sorted, 0.95)),
    p99_ms: round(percentile(sorted, 0.99)),
    max_ms: round(calls ? sorted[calls - 1] : null),
    cpu_ms: round(cpuMs),
    cpu_user_ms: round(windowCpu.user / 1000),
    cpu_system_ms: round(windowCpu.system / 1000),
    cpu_ms_per_call: calls ? round(cpuMs / calls) : null,
  };
  process.stdout.write(`${JSON.stringify(answer)}\n`, () => process.exit(errors ? 1 : 0));
}

const workers = Array.from({ length: connections }, (_, index) => new Worker(index));
let seeded = 0;
function oneSeeded() {
  seeded += 1;
  if (seeded < connections) return;
  phase = "warmup";
  if (warmup > 0) setTimeout(beginMeasuring, warmup * 1000);
  else beginMeasuring();
  for (const worker of workers) worker.next();
}
// Timeouts from one timer, not one per socket (a socket's timer is re-armed on every read and write).
setInterval(() => {
  const now = performance.now();
  for (const worker of workers) worker.timedOut(now);
}, 250).unref();
for (const worker of workers) worker.start(oneSeeded);
