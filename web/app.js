// Boots Pyodide from this origin, installs blazen_py from the local lock file and runs a
// sample workflow. Everything comes from ./pyodide/; all text is set with textContent.
import { loadPyodide } from "./pyodide/pyodide.mjs";

const SAMPLE = `from blazen_py import START_EVENT, STOP_EVENT, Workflow

wf = Workflow("greeter")

async def greet(event, ctx):
    ctx.set("name", event["name"])
    return {"type": "Greeted", "greeting": "Hello, " + event["name"] + "!"}

def count(event, ctx):
    name = ctx.get("name")
    return {"type": STOP_EVENT,
            "result": {"greeting": event["greeting"], "letters": len(name)}}

wf.add_step("greet", [START_EVENT], greet)
wf.add_step("count", ["Greeted"], count)

result = await wf.run({"name": "Ada"})
`;

const $ = (id) => document.getElementById(id);
const progress = $("progress");

function step(value, text) {
  progress.value = value;
  $("status").textContent = text;
}

async function main() {
  step(0, "Reading build info…");
  const info = await (await fetch("./build-info.json")).json();
  $("versions").textContent =
    `${info.name} ${info.version} · Pyodide ${info.pyodide} · Python ${info.python}`;

  step(1, `Loading Pyodide ${info.pyodide}…`);
  const started = performance.now();
  const pyodide = await loadPyodide({ indexURL: new URL("./pyodide/", location.href).href });

  step(2, `Installing ${info.name} ${info.version}…`);
  const problems = [];
  await pyodide.loadPackage(info.package, {
    messageCallback: () => {},
    errorCallback: (message) => problems.push(message),
  });
  if (problems.length) throw new Error(problems.join("; "));

  step(3, "Running the sample workflow…");
  $("source").textContent = SAMPLE;
  const globals = pyodide.toPy({});
  await pyodide.runPythonAsync(SAMPLE, { globals });
  const json = pyodide.runPython(
    "import json; json.dumps({'run_id': result.run_id, 'data': result.data}, indent=2)",
    { globals },
  );
  globals.destroy();

  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  $("result").textContent = json;
  $("output").hidden = false;
  step(4, `Done in ${seconds} s.`);
  document.body.dataset.state = "done";
}

main().catch((error) => {
  const status = $("status");
  status.textContent = `Failed: ${error && error.message ? error.message : error}`;
  status.classList.add("error");
  document.body.dataset.state = "error";
  console.error(error);
});
