"""Longhaul's public API for defining job kinds in your own package.

A kind is one :class:`JobKind` value in a module that Longhaul imports because
``LONGHAUL_JOB_MODULES`` names it; the module lists its kinds in ``KINDS``::

    from pydantic import BaseModel, ConfigDict
    from longhaul import Context, JobKind, PermanentError, Retry

    class ResizeInput(BaseModel):
        model_config = ConfigDict(extra="forbid")
        url: str
        width: int

    async def resize(ctx: Context, params: ResizeInput) -> dict:
        image = await ctx.run(download, params.url)      # a durable step
        return await ctx.run(scale, image, params.width)  # replayed, never re-run

    KINDS = [
        JobKind(
            name="resize",
            summary="Download an image and scale it.",
            input_model=ResizeInput,
            function=resize,
            retry=Retry(max_attempts=5, initial_s=2, factor=2, max_s=60),
            permanent=(PermanentError, ValueError),
        )
    ]

The gateway reads a definition only to validate input and describe the kind;
the worker registers and runs its function. Everything importable from here is
stable; nothing else in this repository is meant for your code to import.
"""

from longhaul.errors import PermanentError
from longhaul.kinds import Context, JobKind, Retry, attempt

__all__ = ["Context", "JobKind", "PermanentError", "Retry", "attempt"]
