"""What ``services/worker/sdk/await_promise.py`` relies on inside resonate-sdk 0.8.1.

``tests/worker/test_notifier.py`` runs it end to end (a notifier suspended on
a job's promise resumes when the job settles); this names the private parts,
so an SDK upgrade fails here first.
"""

from __future__ import annotations

import inspect

import pytest
from resonate.context import Context, _State
from resonate.core import Core
from resonate.error import Suspended
from resonate.tree import Tree

pytestmark = pytest.mark.unit


def test_context_state_has_what_a_remote_await_touches() -> None:
    init = inspect.signature(_State.__init__).parameters
    assert {"spawned_remote", "tree"} <= set(init)
    source = inspect.getsource(Context._await_remote)
    # await_existing mirrors this: pending -> a remote todo, then Suspended.
    assert "self._state.spawned_remote.append(req.id)" in source
    assert "raise Suspended" in source
    assert '"ext"' in inspect.getsource(Context._remote_future)
    assert "self._state.workflow = True" in inspect.getsource(Context.promise)
    assert issubclass(Suspended, BaseException) and not issubclass(Suspended, Exception)


def test_the_tree_takes_an_external_child_of_any_id() -> None:
    tree = Tree("job.notify")
    assert tree.add_child("job.notify", "job", "ext")
    assert tree.frontier() == ["job"]
    tree.well_formed("suspended", ["job"])


def test_core_suspends_on_the_remote_todos_and_takes_origin_from_the_tag() -> None:
    source = inspect.getsource(Core.execute_until_blocked_inner)
    assert "todos = root_ctx.take_remote_todos()" in source
    assert 'promise.tags.get("resonate:origin")' in source
