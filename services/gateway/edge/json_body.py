"""Request bodies as strict JSON: what cannot be stored and read back is a 4xx.

FastAPI reads a body with ``json.loads``, which takes ``NaN`` and
``Infinity`` (they became ``null`` on the way out), numbers past the float
range (``inf``), lone surrogate escapes (``"\\ud800"``: not encodable as
UTF-8, so the fingerprint raised a 500) and nesting deep enough to break
pydantic's serializer (256 levels: a 500) or the parser (~1,000: a bare 400).
``JsonBodyRoute`` reads bodies with ``decode_body`` instead:

- malformed JSON or a body that is not UTF-8: 400 ``malformed-json``;
- ``NaN``, ``Infinity`` or a number out of range: 422 ``number-out-of-range``;
- a lone surrogate: 422 ``invalid-string``, naming where it is;
- arrays and objects nested deeper than ``LONGHAUL_MAX_JSON_DEPTH``: 422 ``json-too-deep``.

msgspec parses strict JSON (RFC 8259, UTF-8) and refuses the first three by
itself, several times faster than ``json.loads``; only a refused body is
parsed again with the standard library, to say why.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

import msgspec
from fastapi import Request, Response
from fastapi.routing import APIRoute

from services.gateway.edge.errors import BodyProblem

_DECODER = msgspec.json.Decoder()


def decode_body(body: bytes, max_depth: int) -> Any:
    """The body's JSON value, or a ``BodyProblem`` saying what is wrong with it."""
    try:
        value = _DECODER.decode(body)
    except msgspec.ValidationError as exc:
        # msgspec's only value checks without a type: floats past the double
        # range and integers past its bound.
        raise _out_of_range(f"A number in the body is out of range ({exc}).") from exc
    except msgspec.DecodeError:
        raise _explain(body) from None
    except RecursionError:
        raise _too_deep(max_depth) from None
    # The count of opening brackets bounds the depth: most bodies need no walk.
    if body.count(b"[") + body.count(b"{") > max_depth and _deeper_than(value, max_depth):
        raise _too_deep(max_depth)
    return value


class JsonBodyRequest(Request):
    """A Request whose ``json()`` is ``decode_body``, with the app's depth limit."""

    async def json(self) -> Any:
        if not hasattr(self, "_strict_json"):
            max_depth = self.app.state.settings.max_json_depth
            self._strict_json = decode_body(await self.body(), max_depth)
        return self._strict_json


class JsonBodyRoute(APIRoute):
    """An APIRoute that reads its JSON body with ``decode_body``.

    FastAPI's documented way to change how a route reads its request: the
    handler gets a ``JsonBodyRequest``. Every route that takes a body uses it
    (a test checks).
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_json_handler(request: Request) -> Response:
            return await handler(JsonBodyRequest(request.scope, request.receive))

        return strict_json_handler


class _NonFiniteLiteral(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NonFiniteLiteral(name)


def _explain(body: bytes) -> BodyProblem:
    """Why msgspec refused ``body`` (the error path only)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _malformed(f"The body is not UTF-8 (byte {exc.start}).")
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except _NonFiniteLiteral as exc:
        return _out_of_range(f"{exc} is not a JSON number; numbers must be finite.")
    except json.JSONDecodeError as exc:
        return _malformed(f"{exc.msg} (line {exc.lineno}, column {exc.colno}).")
    except RecursionError:
        return _too_deep(None)
    except ValueError as exc:  # an integer literal past the conversion limit
        return _out_of_range(f"A number in the body is out of range ({exc}).")
    loc = _lone_surrogate(value)
    if loc is not None:
        return BodyProblem(
            422,
            "invalid-string",
            "Invalid string",
            "A string holds a lone surrogate escape (\\ud800 to \\udfff, unpaired): "
            "it is not a Unicode character.",
            errors=[
                {
                    "loc": ["body", *loc],
                    "msg": "lone surrogate in string",
                    "type": "string_unicode",
                }
            ],
        )
    # Left: what the standard library reads and RFC 8259 does not, e.g. a BOM.
    return _malformed("The body is not strict JSON (RFC 8259).")


def _lone_surrogate(value: Any) -> list[str] | None:
    """The location of the first string or key that is not encodable text, if any."""
    stack: list[tuple[Any, list[str]]] = [(value, [])]
    while stack:
        node, loc = stack.pop()
        if isinstance(node, str):
            if not _encodable(node):
                return loc
        elif isinstance(node, dict):
            for key, child in node.items():
                if not _encodable(key):
                    return [*loc, key.encode("utf-8", "backslashreplace").decode()]
                stack.append((child, [*loc, key]))
        elif isinstance(node, list):
            stack.extend((child, [*loc, str(i)]) for i, child in enumerate(node))
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _deeper_than(value: Any, max_depth: int) -> bool:
    if not isinstance(value, (dict, list)):
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            return True
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return False


def _malformed(detail: str) -> BodyProblem:
    return BodyProblem(400, "malformed-json", "Malformed JSON", detail)


def _out_of_range(detail: str) -> BodyProblem:
    return BodyProblem(
        422,
        "number-out-of-range",
        "Number out of range",
        detail,
        errors=[{"loc": ["body"], "msg": "number out of range", "type": "finite_number"}],
    )


def _too_deep(max_depth: int | None) -> BodyProblem:
    limit = f"at most {max_depth}" if max_depth is not None else "less"
    return BodyProblem(
        422,
        "json-too-deep",
        "JSON nested too deeply",
        f"Arrays and objects in the body may nest {limit} levels deep.",
    )
