// Node side of the tests/pyodide harness: one Pyodide per process, driven over stdio.
//   node node_driver.mjs DIST_PYODIDE_DIR
// stdin:  one JSON command per line: {"id", "cmd": "boot"|"run", "args": {...}}
// stdout: one reply per command, on a line starting with REPLY_PREFIX: {"id", "ok", "value"|"error"}
// Everything else (Python output outside of tests, Pyodide messages) goes to stderr.
import { readFile } from "node:fs/promises";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import path from "node:path";
import { boot, runCase } from "./web/harness_core.mjs";

const REPLY_PREFIX = "@@blazen-harness@@";
const distPyodide = path.resolve(process.argv[2]);
const { loadPyodide } = await import(pathToFileURL(path.join(distPyodide, "pyodide.mjs")).href);
let harness = null;

const commands = {
  async boot({ packageName, wheelPaths, files, fastLoop }) {
    const wheels = await Promise.all(
      wheelPaths.map(async (p) => new Uint8Array(await readFile(p))),
    );
    harness = await boot({
      loadPyodide,
      indexURL: distPyodide + path.sep,
      packageName, wheels, files, fastLoop,
      log: (line) => process.stderr.write(`[pyodide] ${line}\n`),
    });
    return harness.info;
  },
  run: (args) => runCase(harness, args),
};

function reply(message) {
  process.stdout.write(`${REPLY_PREFIX}${JSON.stringify(message)}\n`);
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (!line.trim()) continue;
  const { id, cmd, args } = JSON.parse(line);
  try {
    reply({ id, ok: true, value: await commands[cmd](args) });
  } catch (error) {
    reply({ id, ok: false, error: String((error && error.stack) || error) });
  }
}
process.exit(0);
