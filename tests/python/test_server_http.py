"""The HTTP service of blazen_py.server, a real process on 127.0.0.1 (SQLite): runs by
name, from a snapshot a page sent, status, SSE with reattach, input answers, abort; and
what an attacker sends: bad tokens, huge and deep bodies, wrong types, unknown workflows,
replayed starts, tampered snapshots, foreign origins."""

from __future__ import annotations

import copy
import http.client
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from server_app import ask as ask_workflow
from server_app import read_log
from server_proc import ROOT, TOKEN, Server

pytest.importorskip("dbos", reason="blazen_py[server] is not installed")

ALLOWED = "http://allowed.example"


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server") / "executions.jsonl"


@pytest.fixture(scope="module")
def server(log: Path) -> Iterator[Server]:
    proc = Server(f"sqlite:///{log.parent / 'http.sqlite'}", log=log, args=["--cors-origin", ALLOWED])
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def start(server: Server, workflow: str, data: Any = None, **extra: Any) -> str:
    status, body = server.call("POST", "/runs", {"workflow": workflow, "input": data or {}, **extra})
    assert status == 202, body
    return str(body["run_id"])


def error_of(response: tuple[int, Any]) -> tuple[int, str]:
    status, body = response
    return status, body["error"]["type"]


# -- happy paths ------------------------------------------------------------------------------


def test_a_run_started_by_name_completes_with_its_result(server: Server) -> None:
    run_id = start(server, "echo", {"value": [1, "two", {"three": 3.5}]})
    info = server.wait(run_id)
    assert info == {
        "run_id": run_id,
        "workflow": "echo",
        "status": "completed",
        "result": {"echo": [1, "two", {"three": 3.5}]},
    }
    assert server.call("GET", "/workflows")[1] == {
        "workflows": ["ask", "ask_await", "echo", "fails", "relay", "slow", "ten_steps"]
    }


def test_a_failing_run_reports_its_typed_error(server: Server) -> None:
    info = server.wait(start(server, "fails"))
    assert info["status"] == "failed"
    assert info["error_type"] == "StepError"
    assert "the step says no" in info["error"]


def test_the_event_stream_replays_from_any_point_with_last_event_id(server: Server) -> None:
    run_id = start(server, "ten_steps", {"pause": 0.01})
    items = list(server.events(run_id))
    ids = [i for i, _, _ in items]
    assert ids == list(range(len(ids)))
    types = [data["event_type"] for _, _, data in items]
    assert types[0] == "blazen::StartEvent"
    assert types[-2:] == ["blazen::StopEvent", "blazen::RunEnded"]
    assert items[-1][1] == "end"
    assert items[-1][2]["status"] == "completed"
    # a client that lost the connection after id 3 gets exactly what it missed
    again = list(server.events(run_id, last_event_id=3))
    assert again == items[4:]
    status, _ = server.call("GET", f"/runs/{run_id}/events?after=abc")
    assert status == 400


def test_an_input_request_is_answered_over_http_once(server: Server) -> None:
    run_id = start(server, "ask", {"who": "ada"})
    stream = server.events(run_id)
    request = next(data for _, _, data in stream if data["event_type"] == "InputRequested")
    assert request["prompt"] == "Approve?"
    assert request["metadata"] == {"who": "ada"}
    answer = {"request_id": request["request_id"], "response": {"ok": True}}
    assert server.call("POST", f"/runs/{run_id}/input", answer)[0] == 202
    assert error_of(server.call("POST", f"/runs/{run_id}/input", answer)) == (409, "InputRequestError")
    rest = list(stream)
    assert rest[-1][2]["result"] == {"who": "ada", "answer": {"ok": True}}
    server.wait(run_id)
    ended = server.call("POST", f"/runs/{run_id}/input", answer)
    assert error_of(ended) == (409, "HandlerStateError")


def test_a_step_awaiting_request_input_is_answered_over_http(server: Server) -> None:
    run_id = start(server, "ask_await")
    request = next(d for _, _, d in server.events(run_id) if d["event_type"] == "InputRequested")
    assert (request["prompt"], request["metadata"]) == ("Name?", {"hint": "any"})
    answer = {"request_id": request["request_id"], "response": "Ada"}
    assert server.call("POST", f"/runs/{run_id}/input", answer)[0] == 202
    assert server.wait(run_id)["result"] == {"name": "Ada"}


def test_an_unknown_input_request_is_refused(server: Server) -> None:
    run_id = start(server, "ask", {"who": "bob"})
    next(d for _, _, d in server.events(run_id) if d["event_type"] == "InputRequested")
    bad = {"request_id": "not-a-request", "response": 1}
    assert error_of(server.call("POST", f"/runs/{run_id}/input", bad)) == (404, "InputRequestError")
    assert server.call("POST", f"/runs/{run_id}/abort")[0] == 202
    info = server.wait(run_id)
    assert (info["status"], info["error_type"]) == ("failed", "WorkflowAbortedError")


async def paused_ask_snapshot() -> dict[str, Any]:
    """A snapshot as a page makes it: the `ask` run paused at its input request."""
    handler = await ask_workflow.run_with_handler({"who": "page"})
    async for item in handler.events():
        if item.event_type == "InputRequested":
            break
    return dict(await handler.pause())


async def test_a_run_continues_from_a_snapshot_a_page_sent(server: Server) -> None:
    snapshot = await paused_ask_snapshot()
    status, body = server.call("POST", "/runs/continue", {"snapshot": snapshot})
    assert (status, body["run_id"]) == (202, snapshot["run_id"])
    request_id = snapshot["input_requests"][0]["request_id"]
    assert (
        server.call("POST", f"/runs/{body['run_id']}/input", {"request_id": request_id, "response": "yes"})[0]
        == 202
    )
    info = server.wait(body["run_id"])
    assert info["result"] == {"who": "page", "answer": "yes"}
    # the same snapshot again: that run id was used
    again = server.call("POST", "/runs/continue", {"snapshot": snapshot})
    assert error_of(again) == (409, "RunExistsError")


def tampered(snapshot: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    def edit(what: str, change: Any) -> tuple[str, dict[str, Any]]:
        copied = copy.deepcopy(snapshot)
        copied["run_id"] = f"tampered-{what.replace(' ', '-')}"
        change(copied)
        return what, copied

    yield edit("version", lambda s: s.update(version=999))
    yield edit("format", lambda s: s.update(format="pickle"))
    yield edit("unknown workflow", lambda s: s.update(workflow="rm -rf"))
    yield edit("state type", lambda s: s.update(state={"who": {"$bytes": "!!!not base64"}}))
    yield edit("queue", lambda s: s.update(queue=[{"no": "type"}]))
    yield edit("step", lambda s: s.update(step_inputs=[{"step": "os.system", "event": {"type": "x"}}]))
    yield edit("requests", lambda s: s.update(input_requests="all of them"))
    yield edit("run id", lambda s: s.update(run_id=""))


async def test_a_tampered_snapshot_is_refused_with_a_typed_error(server: Server, log: Path) -> None:
    snapshot = await paused_ask_snapshot()
    for what, bad in tampered(snapshot):
        status, body = server.call("POST", "/runs/continue", {"snapshot": bad})
        assert (status, body["error"]["type"]) == (422, "SnapshotError"), what
        if bad["run_id"]:
            assert server.call("GET", f"/runs/{bad['run_id']}")[0] == 404, what
    status, body = server.call("POST", "/runs/continue", {"snapshot": "text"})
    assert (status, body["error"]["type"]) == (400, "BadRequestError")


# -- attackers --------------------------------------------------------------------------------


def test_requests_without_the_right_bearer_token_are_refused(server: Server) -> None:
    for token in (None, "wrong-token-0123456789", TOKEN + "x", TOKEN[:-1]):
        status, body = server.call("POST", "/runs", {"workflow": "echo"}, token=token)
        assert (status, body["error"]["type"]) == (401, "AuthError"), token
    status, _ = server.call("GET", "/health", token=None)
    assert status == 401
    _, body = server.call("GET", "/runs/x", headers={"Authorization": f"Basic {TOKEN}"}, token=None)
    assert body["error"]["type"] == "AuthError"


def raw_exchange(server: Server, head: bytes, body: Iterator[bytes]) -> bytes:
    """Send a request by hand (the server may answer and close before it is all sent)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        try:
            sock.sendall(head)
            for chunk in body:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        try:
            while b"\r\n\r\n" not in answer:
                part = sock.recv(65536)
                if not part:
                    break
                answer += part
        except ConnectionResetError:
            pass
    return answer


def test_oversized_bodies_are_refused_with_413(server: Server) -> None:
    auth = f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n".encode()
    # a declared length over the limit: refused before a byte of the body is read
    head = b"POST /runs HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Length: 2097152\r\n\r\n"
    assert raw_exchange(server, head, iter(())).startswith(b"HTTP/1.1 413")
    # no Content-Length (chunked): the limit holds while reading
    head = b"POST /runs HTTP/1.1\r\nHost: x\r\n" + auth + b"Transfer-Encoding: chunked\r\n\r\n"
    piece = b"1," * 50_000
    chunks = (b"%x\r\n%s\r\n" % (len(piece), piece) for _ in range(30))
    assert raw_exchange(server, head, chunks).startswith(b"HTTP/1.1 413")


def test_deep_and_malformed_json_is_refused_with_400(server: Server) -> None:
    deep = b'{"workflow": "echo", "input": {"value": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}"
    assert error_of(server.call("POST", "/runs", raw=deep)) == (400, "BadRequestError")
    for raw in (b"{", b'{"workflow": NaN}', b"\xff\xfe", b""):
        assert error_of(server.call("POST", "/runs", raw=raw)) == (400, "BadRequestError"), raw
    text = server.call("POST", "/runs", raw=b"{}", headers={"Content-Type": "text/plain"})
    assert error_of(text) == (415, "BadRequestError")


@pytest.mark.parametrize(
    "body",
    [
        [],
        "echo",
        {"workflow": 5},
        {"workflow": ["echo"]},
        {"workflow": "echo", "input": [1, 2]},
        {"workflow": "echo", "input": "x"},
        {"workflow": "echo", "run_id": 7},
        {"workflow": "echo", "run_id": ""},
        {"workflow": "echo", "run_id": "x" * 201},
        {"workflow": "echo", "run_id": "line\nbreak"},
    ],
)
def test_wrong_types_are_refused_with_400(server: Server, body: Any) -> None:
    assert error_of(server.call("POST", "/runs", body)) == (400, "BadRequestError")


def test_wrong_types_in_answers_are_refused(server: Server) -> None:
    for body in (
        {},
        {"request_id": 3, "response": 1},
        {"request_id": "a"},
        {"request_id": "", "response": 1},
    ):
        status, _ = server.call("POST", "/runs/x/input", body)
        assert status == 400, body


def test_an_unknown_workflow_or_run_is_404(server: Server) -> None:
    assert error_of(server.call("POST", "/runs", {"workflow": "__import__('os')"})) == (
        404,
        "WorkflowNotFoundError",
    )
    assert error_of(server.call("GET", "/runs/no-such-run")) == (404, "RunNotFoundError")
    assert error_of(server.call("GET", "/runs/no-such-run/events")) == (404, "RunNotFoundError")
    assert error_of(server.call("POST", "/runs/no-such-run/abort")) == (404, "RunNotFoundError")
    answer = {"request_id": "r", "response": 1}
    assert error_of(server.call("POST", "/runs/no-such-run/input", answer)) == (404, "RunNotFoundError")


def test_a_replayed_start_with_the_same_run_id_runs_once(server: Server, log: Path) -> None:
    body = {"workflow": "slow", "input": {"n": 1, "pause": 0.01}, "run_id": "replayed-start"}
    assert server.call("POST", "/runs", body)[0] == 202
    for _ in range(3):
        assert error_of(server.call("POST", "/runs", body)) == (409, "RunExistsError")
    assert server.wait("replayed-start")["result"] == {"n": 1}
    assert error_of(server.call("POST", "/runs", body)) == (409, "RunExistsError")
    assert Counter(e["run"] for e in read_log(str(log)) if e["what"] == "end")["replayed-start"] == 1


def test_input_that_is_not_state_values_is_refused_with_422(server: Server) -> None:
    body = {"workflow": "echo", "input": {"value": {"$bytes": "not base64!"}}}
    assert error_of(server.call("POST", "/runs", body)) == (422, "StateError")
    # values cross as the snapshot codec writes them: bytes go in and come out as bytes
    good = {"value": {"$bytes": "aGk="}, "$map": 1}
    assert error_of(server.call("POST", "/runs", {"workflow": "echo", "input": good})) == (422, "StateError")
    info = server.wait(start(server, "echo", {"value": {"$bytes": "aGk="}}))
    assert info["result"] == {"echo": {"$bytes": "aGk="}}


def test_cors_answers_only_the_configured_origins(server: Server) -> None:
    def preflight(origin: str) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request(
            "OPTIONS",
            "/runs",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        response = conn.getresponse()
        response.read()
        conn.close()
        return response

    good = preflight(ALLOWED)
    assert good.status == 200
    assert good.getheader("access-control-allow-origin") == ALLOWED
    bad = preflight("http://evil.example")
    assert bad.status == 400
    assert bad.getheader("access-control-allow-origin") is None
    _, _ = server.call("GET", "/workflows", headers={"Origin": "http://evil.example"})


def test_the_service_refuses_to_listen_beyond_localhost_without_a_token() -> None:
    base = [sys.executable, "-m", "blazen_py.server", "--app", "tests.python.server_app:workflows"]
    for extra in (["--host", "0.0.0.0"], ["--host", "::"], ["--host", "127.0.0.1", "--token", "short"]):
        out = subprocess.run(
            [*base, *extra], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
        )
        assert out.returncode == 2, out.stderr
        assert "token" in out.stderr
