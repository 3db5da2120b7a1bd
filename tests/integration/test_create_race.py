"""The real server's concurrent-create 500, end to end: the gateway answers with the stored job.

The dev server's test route makes the next create of an id behave as the loser
of two concurrent creates on Resonate v0.9.8 (the promise is stored, the
answer is 500). The gateway sends the create again and answers the job, not a
503; the job then runs once.
"""

from __future__ import annotations

import httpx
import pytest

from tests.integration.client import Api
from tests.integration.conftest import StackFactory

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("own_devserver")]


def test_a_create_that_lost_the_race_is_answered_with_the_stored_job(
    make_stack: StackFactory,
) -> None:
    stack = make_stack(workers=1, devserver_env={"LONGHAUL_DEVSERVER_TEST_ROUTES": "true"})
    # /begin?id=X creates the promise <tenant>.X: its id is known before the submit.
    armed = httpx.post(f"{stack.resonate_url}/test/create-race", params={"id": "default.race-1"})
    assert armed.status_code == 200, armed.text
    api = Api(stack.gateway_url)
    begun = api.http.post("/begin", params={"id": "race-1"}, json={"n": 1})
    assert begun.status_code == 200, begun.text
    assert begun.json()["status"] == "pending"
    done = api.wait_done("default.race-1")
    assert done["status"] == "succeeded" and done["result"] == {"n": 1}
