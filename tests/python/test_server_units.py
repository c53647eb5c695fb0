"""blazen_py.server's parts without a process: the body reader's limits, the worker's
arguments, the --app loader, the bearer check, run ids."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

pytest.importorskip("dbos", reason="blazen_py[server] is not installed")

from starlette.requests import Request

from blazen_py import Workflow
from blazen_py.server import Worker
from blazen_py.server._body import BodyError, read_json
from blazen_py.server._cli import load_app, main
from blazen_py.server._db import engine_url
from blazen_py.server._http import BearerAuth
from blazen_py.server._worker import check_run_id


def request(body: bytes, headers: dict[str, str] | None = None, chunks: int = 1) -> Request:
    sent = {"content-type": "application/json", **(headers or {})}
    pieces = [body[i::chunks] for i in range(chunks)] if chunks > 1 else [body]
    queue = [
        {"type": "http.request", "body": p, "more_body": i < len(pieces) - 1} for i, p in enumerate(pieces)
    ]

    async def receive() -> dict[str, Any]:
        return queue.pop(0)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": [(k.lower().encode(), v.encode()) for k, v in sent.items()],
    }
    return Request(scope, receive)


def parse(body: bytes, limit: int = 1000, depth: int = 8, **kw: Any) -> Any:
    return asyncio.run(read_json(request(body, **kw), limit, depth))


def test_the_body_reader_bounds_size_and_depth_but_not_brackets_in_strings() -> None:
    assert parse(b'{"a": [[1]]}') == {"a": [[1]]}
    assert parse(b'{"a": "[[[[[[[[[[[[[[[[[["}') == {"a": "[[[[[[[[[[[[[[[[[["}
    assert parse(b'{"a": "\\"[[[[[[[[[[[[[[[["}') == {"a": '"[[[[[[[[[[[[[[[['}
    with pytest.raises(BodyError, match="nested more than 8") as deep:
        parse(b"[" * 9 + b"]" * 9)
    assert deep.value.status == 400
    with pytest.raises(BodyError, match="over the 1000 byte limit") as big:
        parse(b"[" + b"1," * 600 + b"1]")
    assert big.value.status == 413
    with pytest.raises(BodyError, match="over the 10 byte limit"):
        parse(b"[1, 2, 3, 4, 5]", limit=10, headers={"content-length": "3"})  # a lying length
    with pytest.raises(BodyError) as bad_length:
        parse(b"[]", headers={"content-length": "-1"})
    assert bad_length.value.status == 413
    with pytest.raises(BodyError, match="application/json") as kind:
        parse(b"[]", headers={"content-type": "text/json"})
    assert kind.value.status == 415
    for bad in (b"[Infinity]", b"[NaN]", b'{"a": }', b"\x00"):
        with pytest.raises(BodyError, match="not valid JSON"):
            parse(bad)


def test_the_worker_checks_its_arguments() -> None:
    a, b = Workflow("a"), Workflow("a")
    with pytest.raises(ValueError, match="two workflows are named 'a'"):
        Worker([a, b])
    with pytest.raises(TypeError, match="Workflow objects"):
        Worker(["a"])  # type: ignore[list-item]
    for bad in (0, -1, 1.5, "8"):
        with pytest.raises(ValueError, match="concurrency"):
            Worker([a], concurrency=bad)  # type: ignore[arg-type]
    worker = Worker({"x": a})
    assert worker.url == "sqlite:///blazen_server.sqlite"
    with pytest.raises(KeyError, match="no workflow named 'b'"):
        worker.workflow("b")


def test_run_ids_are_short_printable_strings() -> None:
    assert check_run_id("run-1") == "run-1"
    for bad in ("", "x" * 201, "a\nb", "\x00", 5, None):
        with pytest.raises(ValueError, match="run id"):
            check_run_id(bad)


def test_the_app_loader_takes_only_workflows() -> None:
    assert [w.name for w in load_app("tests.python.server_app:workflows")][:2] == ["ten_steps", "echo"]
    assert [w.name for w in load_app("tests.python.server_app:echo")] == ["echo"]
    for spec, why in (
        ("nocolon", "module:attribute"),
        (":x", "module:attribute"),
        ("m:", "module:attribute"),
    ):
        with pytest.raises(SystemExit, match=why):
            load_app(spec)
    with pytest.raises(SystemExit, match="Workflow"):
        load_app("tests.python.server_app:read_log.__name__")


def test_the_command_line_refuses_an_open_bind_without_a_token(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--app", "tests.python.server_app:workflows", "--host", "0.0.0.0"]) == 2
    assert "refusing to listen on 0.0.0.0 without a token" in capsys.readouterr().err


def test_postgres_urls_use_psycopg_3() -> None:
    assert engine_url("postgresql://u:p@h:5/d") == "postgresql+psycopg://u:p@h:5/d"
    assert engine_url("sqlite:///x.sqlite") == "sqlite:///x.sqlite"


def test_the_bearer_check_compares_the_whole_header() -> None:
    seen: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(1)

    async def call(header: bytes | None) -> int:
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        headers = [] if header is None else [(b"authorization", header)]
        await BearerAuth(app, "secret-token-123456")({"type": "http", "headers": headers}, receive, send)
        return int(sent[0]["status"]) if sent else 200

    async def run() -> list[int]:
        cases = [None, b"secret-token-123456", b"Bearer secret", b"Bearer secret-token-1234567", b"bearer x"]
        return [await call(c) for c in [*cases, b"Bearer secret-token-123456"]]

    assert asyncio.run(run()) == [401, 401, 401, 401, 401, 200]
    assert seen == [1]
