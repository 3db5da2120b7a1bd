"""An APIRoute for an endpoint that reads its Request and returns a Response.

FastAPI documents such a route like any other (response model, problem
responses, parameters given in ``openapi_extra``) but its request handler
resolves no dependencies and serializes nothing: the endpoint is the handler.
On the status poll that machinery cost more than the rest of the request's
own work (bench/results/report.md). Exceptions still reach the app's
problem+json handlers, as from any route.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute


class DirectRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        declared = self.dependant
        if (
            declared.path_params
            or declared.query_params
            or declared.header_params
            or declared.cookie_params
            or declared.body_params
            or declared.dependencies
            or declared.request_param_name is None
        ):
            # A declared parameter would be documented but never resolved.
            raise TypeError(f"{endpoint.__name__} must take only the Request: {path}")

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return self.endpoint
