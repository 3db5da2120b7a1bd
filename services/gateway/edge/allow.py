"""``Allow`` names every method of a path: in 405s and in answers to OPTIONS.

Starlette's 405 lists the methods of the first route whose path matched, so
``PUT /v1/jobs/{id}`` said ``Allow: GET`` although DELETE is served there too
(the two are separate routes), and OPTIONS was a 405 like any other method.
Both are answered from all the app's routes that match the path.
"""

from __future__ import annotations

from fastapi import Request, Response


def allowed_methods(request: Request) -> str:
    path = request.scope["path"]
    methods = {"OPTIONS"}
    for route in request.app.router.routes:
        regex = getattr(route, "path_regex", None)
        route_methods = getattr(route, "methods", None)
        if regex is not None and route_methods and regex.match(path):
            methods |= route_methods
    return ", ".join(sorted(methods))


def options_response(request: Request) -> Response:
    """OPTIONS on a path that exists: no content, its methods in ``Allow``."""
    return Response(status_code=204, headers={"Allow": allowed_methods(request)})
