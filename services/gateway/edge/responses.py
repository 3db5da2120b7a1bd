"""The gateway's JSON response: Starlette's, rendered by msgspec.

Same bytes as Starlette's compact, UTF-8 rendering, at a fraction of the cost
on the polling path; a non-finite float renders as ``null`` instead of failing
the response.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse as _StarletteJSONResponse

from services.common.json_codec import dumps_bytes


class JSONResponse(_StarletteJSONResponse):
    def render(self, content: Any) -> bytes:
        return dumps_bytes(content)
