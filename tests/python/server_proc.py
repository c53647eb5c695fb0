"""A `python -m blazen_py.server` process for tests, and a small HTTP client (stdlib only)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.python.server_app:workflows"
TOKEN = "test-token-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """One server process (an HTTP front end and a DBOS worker)."""

    def __init__(
        self,
        db: str,
        *,
        log: Path | None = None,
        token: str | None = TOKEN,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        port: int | None = None,
    ) -> None:
        self.db = db
        self.port = port or free_port()
        self.token = token
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.extra_env = dict(env or {})
        self.args = list(args)
        self.process: subprocess.Popen[bytes] | None = None
        self.output = ROOT / ".cache" / f"server-{self.port}.log"

    def start(self, timeout: float = 60.0) -> Server:
        env = {**os.environ, **self.extra_env, "PYTHONPATH": str(ROOT)}
        if self.log is not None:
            env["BLAZEN_TEST_LOG"] = str(self.log)
        cmd = [
            sys.executable,
            "-m",
            "blazen_py.server",
            "--app",
            APP,
            "--db",
            self.db,
            "--port",
            str(self.port),
        ]
        if self.token:
            cmd += ["--token", self.token]
        self.output.parent.mkdir(exist_ok=True)
        with self.output.open("wb") as out:
            self.process = subprocess.Popen(
                [*cmd, *self.args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.process.returncode}:\n{self.output.read_text()}"
                )
            try:
                if self.call("GET", "/health", timeout=2)[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"server did not start in {timeout} s:\n{self.output.read_text()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | bool | None = True,
        headers: Mapping[str, str] | None = None,
        raw: bytes | None = None,
        timeout: float = 30,
    ) -> tuple[int, Any]:
        """(status, parsed JSON body) of one request; token=True sends this server's token."""
        sent = dict(headers or {})
        given = self.token if token is True else token or None
        if given:
            sent.setdefault("Authorization", f"Bearer {given}")
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                text = response.read()
                return response.status, json.loads(text) if text else None
        except urllib.error.HTTPError as exc:
            text = exc.read()
            try:
                return exc.code, json.loads(text)
            except ValueError:
                return exc.code, text.decode(errors="replace")

    def wait(self, run_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """The run's status once it has ended."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, info = self.call("GET", f"/runs/{run_id}?wait=5")
            assert status == 200, info
            if info["status"] in ("completed", "failed", "cancelled"):
                return dict(info)
        raise AssertionError(f"run {run_id} did not end in {timeout} s")

    def events(
        self, run_id: str, *, last_event_id: int | None = None, limit: int | None = None, timeout: float = 60
    ) -> Iterator[tuple[int, str, dict[str, Any]]]:
        """(id, event name, data) of each SSE message; stops after ``limit`` messages."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        conn.request("GET", f"/runs/{run_id}/events", headers=headers)
        response = conn.getresponse()
        assert response.status == 200, response.read()
        assert response.getheader("content-type", "").startswith("text/event-stream")
        seen = 0
        fields: dict[str, str] = {}
        try:
            for raw_line in response:
                line = raw_line.decode().rstrip("\n")
                if line.startswith(":"):
                    continue
                if line:
                    name, _, value = line.partition(": ")
                    fields[name] = value
                    continue
                if "data" in fields:
                    yield int(fields["id"]), fields.get("event", "message"), json.loads(fields["data"])
                    seen += 1
                    if limit is not None and seen >= limit:
                        return
                fields = {}
        finally:
            conn.close()
