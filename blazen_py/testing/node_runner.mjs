// run_in_blazen's Node side: boots Pyodide from a dist/pyodide folder, loads blazen_py from
// its lock (as the page does), runs the Python sent on stdin with runPythonAsync and prints
// its result (JSON text) on one stdout line after RESULT_PREFIX. Shipped with the plugin.
//   node node_runner.mjs DIST/pyodide PACKAGE_NAME < code.py
import path from "node:path";
import { pathToFileURL } from "node:url";

const RESULT_PREFIX = "@@blazen-run-in-blazen@@";
// Printed once Pyodide and the package are loaded: the host's clock for the body's timeout
// starts there, so a body that blocks is killed after its timeout, not after boot's too.
const BOOTED_LINE = "@@blazen-booted@@";
const [indexDir, packageName] = process.argv.slice(2);
const log = (line) => process.stderr.write(`${line}\n`);

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

async function main() {
  const code = await readStdin();
  const { loadPyodide } = await import(pathToFileURL(path.join(indexDir, "pyodide.mjs")).href);
  // Python's own output goes to stderr, so stdout carries only the result line.
  const pyodide = await loadPyodide({ indexURL: indexDir + path.sep, stdout: log, stderr: log });
  const errors = [];
  await pyodide.loadPackage(packageName, { messageCallback: () => {}, errorCallback: (m) => errors.push(m) });
  if (errors.length) throw new Error(`loadPackage(${packageName}) failed: ${errors.join("; ")}`);
  process.stdout.write(`${BOOTED_LINE}\n`);
  return await pyodide.runPythonAsync(code);
}

try {
  process.stdout.write(`${RESULT_PREFIX}${await main()}\n`);
  process.exit(0);
} catch (error) {
  const message = String((error && error.stack) || error);
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify({ ok: false, kind: "runtime", traceback: message })}\n`);
  process.exit(1);
}
