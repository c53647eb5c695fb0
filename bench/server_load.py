"""Load on blazen_py.server: N short runs through the HTTP service (DBOS on SQLite) against
the same runs in-process without DBOS.

    python -m bench.server_load [--runs 1000] [--clients 16] [--concurrency 16]

Prints one JSON object. Each run is a 3-step workflow (`bench.server_app:workflows`);
a client thread starts it (`POST /runs`) and waits for its outcome
(`GET /runs/{id}?wait=`); its latency is from the start request to the outcome. Every
result is checked: a lost or wrong run fails the benchmark. The server is a real
`python -m blazen_py.server` process on 127.0.0.1 with a fresh SQLite file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token-0123456789abcdef"


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    """p50, p90, p99 and max of latencies, in milliseconds."""
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000

    return {"p50_ms": at(0.5), "p90_ms": at(0.9), "p99_ms": at(0.99), "max_ms": ordered[-1] * 1000}


def in_process(runs: int, clients: int) -> dict[str, Any]:
    """The same runs with `Workflow.run` in this process, ``clients`` at a time."""
    from bench.server_app import short

    async def main() -> tuple[float, list[float]]:
        gate = asyncio.Semaphore(clients)
        latencies: list[float] = []

        async def one(n: int) -> None:
            async with gate:
                began = time.perf_counter()
                result = await short.run({"n": n})
                latencies.append(time.perf_counter() - began)
                if result.data != {"n": n, "steps": 3}:
                    raise AssertionError(f"wrong result {result.data!r} for run {n}")

        began = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(runs)))
        return time.perf_counter() - began, latencies

    seconds, latencies = asyncio.run(main())
    return {"runs": runs, "seconds": seconds, "runs_per_s": runs / seconds, **percentiles(latencies)}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _call(url: str, method: str, body: Any = None, timeout: float = 60) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def through_http(runs: int, clients: int, concurrency: int) -> dict[str, Any]:
    """The runs through a real server process on SQLite."""
    folder = Path(tempfile.mkdtemp(prefix="blazen-server-load-"))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = (folder / "server.log").open("wb")
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "blazen_py.server", "--app", "bench.server_app:workflows"),
            *("--db", f"sqlite:///{folder / 'load.sqlite'}", "--port", str(port), "--token", TOKEN),
            *("--concurrency", str(concurrency), "--poll-interval", "0.02"),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _call(base + "/health", "GET", timeout=2)[0] == 200:
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the server did not start: {(folder / 'server.log').read_text()}"
                    ) from None
                time.sleep(0.1)

        def one(n: int) -> float:
            began = time.perf_counter()
            status, body = _call(base + "/runs", "POST", {"workflow": "short", "input": {"n": n}})
            if status != 202:
                raise AssertionError(f"run {n} not started: {status} {body}")
            run_id = body["run_id"]
            while True:
                status, info = _call(f"{base}/runs/{run_id}?wait=30", "GET")
                if status != 200:
                    raise AssertionError(f"run {n}: status {status} {info}")
                if info["status"] in ("completed", "failed", "cancelled"):
                    break
            if info.get("result") != {"n": n, "steps": 3}:
                raise AssertionError(f"run {n} ended wrong: {info}")
            return time.perf_counter() - began

        began = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            latencies = list(pool.map(one, range(runs)))
        seconds = time.perf_counter() - began
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
    return {
        "runs": runs,
        "completed": len(latencies),
        "seconds": seconds,
        "runs_per_s": runs / seconds,
        "clients": clients,
        "concurrency": concurrency,
        **percentiles(latencies),
    }


def measure(runs: int, clients: int, concurrency: int) -> dict[str, Any]:
    """Both sides, with the versions measured."""
    from importlib import metadata

    return {
        "dbos": metadata.version("dbos"),
        "starlette": metadata.version("starlette"),
        "uvicorn": metadata.version("uvicorn"),
        "in_process": in_process(runs, clients),
        "http_sqlite": through_http(runs, clients, concurrency),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Print the measurements as JSON."""
    parser = argparse.ArgumentParser(prog="bench.server_load", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.runs, args.clients, args.concurrency)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
