"""The parts of build.py, one module per concern. Standard library only (and blazen_py,
which has no dependencies): `python build.py` runs with the system Python before any
virtualenv exists. Not part of the blazen_py wheel.

build.py is the command line; the tests and bench/run.py import these modules. From the
bottom up (each imports only modules above it in this list):

    paths        where everything is (dist/, .cache/, .venv/, ...), PACKAGE, PYODIDE_VERSION
    common       BuildError, log(), run() a command, file and process helpers
    wheel        the project metadata (version()) and the reproducible blazen_py wheel
    npm          Node.js and node_modules/ (npm ci)
    virtualenvs  .venv/, .cache/lab-venv/, .cache/bench-venv/ and what each holds
    pypi         pure wheels for Pyodide's Python, downloaded once into .cache/wheels/
    apt          Debian packages installed with apt-get, as root
    chromium     find_chromium() (the one lookup), ensure_chromium(), CHROMIUM_ARGS
    postgres     Debian's Postgres (ensure_postgres()) and a throwaway test cluster
    server       the static server: make_server(), MIME types, `serve`
    snapshot     the memory snapshot made in headless Chromium
    lab_lock     the lab kernel's own Pyodide lock (our runtime's plus the kernel's wheels)
    dist         dist/: the runtime, the lock file, web/ (and its generated JS), build-info.json
    lab          the JupyterLite site dist/lab/ (`lab`)
    tiers        `test`: the set-up steps and the tiers, each its own pytest process
    bench        `bench`: set up, then run bench/run.py

A new set-up step (a service a test tier needs, such as a database server): its own module
with an `ensure_...()` that is cached and says what it does (as chromium.py; apt.py installs
Debian packages), called from tiers.test() (and bench.bench() if the benchmarks need it).
A new tier: a folder tests/<name> and its name in tiers.TIERS.
"""
