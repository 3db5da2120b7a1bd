"""One kind, ``report``, across a rollout of its code: v1, then two ways to change it.

- ``v1``: step ``load`` (returns the rows), a durable pause, step ``render``.
- ``reordered``: the same kind with its steps swapped and no new version: the
  change that breaks jobs in flight (a replay matches stored results to steps
  by position, so ``render``'s call receives ``load``'s stored result).
- ``versioned``: the same change made right: ``version=2`` for new jobs, and
  the v1 function kept in ``previous_versions`` for the jobs still running it.
"""
