// Boots Pyodide for the portable tests and runs them; shared by node_driver.mjs (Node)
// and harness.html (Chromium), so both runtimes are set up the same way.

const TEST_DIR = "/home/pyodide/blazen_tests";

/**
 * Boot Pyodide, install blazen_py from the lock of dist/pyodide (as the page does) and the
 * test-only wheels (pytest and its pure deps), write the test modules, import the runner.
 *
 * @param {object} o
 * @param {Function} o.loadPyodide  loadPyodide from dist/pyodide/pyodide.mjs
 * @param {string} o.indexURL       URL or path of dist/pyodide/
 * @param {string} o.packageName    lock name of the blazen_py wheel ("blazen-py")
 * @param {Uint8Array[]} o.wheels   test-only wheels, installed with unpackArchive
 * @param {Object<string,string>} o.files  file name -> Python source, written to TEST_DIR
 * @param {boolean} [o.fastLoop]  install blazen_py.install_fast_loop() before any test runs
 * @param {(line: string) => void} o.log   where Python output outside of tests goes
 */
export async function boot({ loadPyodide, indexURL, packageName, wheels, files, fastLoop, log }) {
  const started = performance.now();
  const pyodide = await loadPyodide({ indexURL, stdout: log, stderr: log });
  const loadErrors = [];
  await pyodide.loadPackage(packageName, {
    messageCallback: () => {},
    errorCallback: (message) => loadErrors.push(message),
  });
  if (loadErrors.length) {
    throw new Error(`loadPackage(${packageName}) failed: ${loadErrors.join("; ")}`);
  }
  const sitePackages = pyodide.runPython("import site; site.getsitepackages()[0]");
  for (const wheel of wheels) {
    pyodide.unpackArchive(wheel, "wheel", { extractDir: sitePackages });
  }
  pyodide.FS.mkdirTree(TEST_DIR);
  for (const [name, text] of Object.entries(files)) {
    pyodide.FS.writeFile(`${TEST_DIR}/${name}`, text);
  }
  pyodide.runPython(`
import importlib, sys
sys.path.insert(0, ${JSON.stringify(TEST_DIR)})
importlib.invalidate_caches()
`);
  if (fastLoop) {
    pyodide.runPython("import blazen_py\nif not blazen_py.install_fast_loop(): raise RuntimeError('fast loop not installed')");
  }
  const runner = pyodide.pyimport("portable_runner");
  const info = JSON.parse(runner.runtime_info());
  info.boot_ms = Math.round(performance.now() - started);
  return { pyodide, runner, info };
}

/** Run one portable test inside Pyodide; resolves to {outcome, message, output, duration}. */
export async function runCase(harness, { module, testId, timeout }) {
  const json = await harness.runner.run_case_json(module, testId, timeout);
  return JSON.parse(json);
}
