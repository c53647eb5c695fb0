"""Request bodies: read at most a set number of bytes, parse JSON of bounded depth.

Everything a client sends is hostile: the size is checked before and while reading (a
missing or lying Content-Length changes nothing), and the nesting depth before parsing
(json.loads recurses once per level).
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request

__all__ = ["BodyError", "read_json"]

_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = re.compile(rb"[^\[\]{}]+")


class BodyError(Exception):
    """A request body that is refused; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind


async def read_json(request: Request, limit: int, max_depth: int) -> Any:
    """The request's JSON body, of at most ``limit`` bytes and ``max_depth`` levels.

    Raises:
        BodyError: 413 when too large, 415 when not JSON, 400 when malformed or too deep.
    """
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        raise BodyError(413, "PayloadTooLargeError", f"the request body is over the {limit} byte limit")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise BodyError(415, "BadRequestError", "the request body must be application/json")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyError(413, "PayloadTooLargeError", f"the request body is over the {limit} byte limit")
        chunks.append(chunk)
    data = b"".join(chunks)
    _check_depth(data, max_depth)
    try:
        return json.loads(data, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise BodyError(400, "BadRequestError", f"the request body is not valid JSON: {exc}") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _check_depth(data: bytes, max_depth: int) -> None:
    if data.count(b"[") + data.count(b"{") <= max_depth:
        return
    depth = 0
    for byte in _NOT_BRACKETS.sub(b"", _STRINGS.sub(b"", data)):
        if byte in b"[{":
            depth += 1
            if depth > max_depth:
                raise BodyError(
                    400, "BadRequestError", f"the request body is nested more than {max_depth} levels"
                )
        else:
            depth -= 1
