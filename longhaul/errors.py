"""Exceptions a job's code raises to tell Longhaul how to treat a failure."""

from __future__ import annotations


class PermanentError(Exception):
    """A failure that no retry can fix: the job fails at once, whatever its retry policy.

    Raise it (or a subclass) from a job or one of its steps for bad data,
    a refused request, a missing resource. Other exception types are made
    permanent per kind with ``JobKind(permanent=(...))``.
    """
