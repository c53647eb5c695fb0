// Pyodide on Node: blazen_py's Python-step workloads (bench/workloads.py), booted from dist/.
//   node bench/node_pyodide.mjs DIST_PYODIDE_DIR CONFIG_JSON
// Prints one JSON line on stdout: {boot_ms, pyodide, python, node, records, profiles}.
// Pyodide's own messages go to stderr.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const distPyodide = path.resolve(process.argv[2]);
const config = process.argv[3];
const log = (line) => process.stderr.write(`[pyodide] ${line}\n`);

const started = performance.now();
const { loadPyodide } = await import(pathToFileURL(path.join(distPyodide, "pyodide.mjs")).href);
const pyodide = await loadPyodide({ indexURL: distPyodide + path.sep, stdout: log, stderr: log });
const problems = [];
await pyodide.loadPackage("blazen-py", { messageCallback: () => {}, errorCallback: (m) => problems.push(m) });
if (problems.length) throw new Error(`loadPackage(blazen-py) failed: ${problems.join("; ")}`);
const bootMs = performance.now() - started;

pyodide.FS.mkdirTree("/home/pyodide/bench");
pyodide.FS.writeFile("/home/pyodide/bench/bench_workloads.py", await readFile(path.join(here, "workloads.py"), "utf8"));
pyodide.runPython("import sys; sys.path.insert(0, '/home/pyodide/bench')");
const workloads = pyodide.pyimport("bench_workloads");
const result = JSON.parse(await workloads.run_suite_json(config));
result.boot_ms = bootMs;
result.pyodide = pyodide.version;
result.python = pyodide.runPython("import platform; platform.python_version()");
result.node = process.versions.node;
process.stdout.write(JSON.stringify(result) + "\n");
process.exit(0);
