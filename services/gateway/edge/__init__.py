"""The HTTP edge: what every request passes before any job logic.

Header-block limits, strict JSON bodies, problem+json errors, the middleware,
prebuilt responses and the direct route of the status read.
"""
