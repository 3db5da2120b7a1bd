"""The examples' answer comparison accepts what varies and nothing else."""

from __future__ import annotations

import pytest

from tests.docs.blocks import Block, console_commands
from tests.docs.shapes import Bindings, Mismatch, match_answer, parse_shown_json

pytestmark = pytest.mark.unit

JOB = "default.job-" + "9f" * 16
SHOWN_202 = [
    "HTTP/1.1 202 Accepted",
    "location: /v1/jobs/default.job-bdf61330…",
    '{"id":"default.job-bdf61330…","kind":"pipeline","status":"pending",…}',
]


def answer_202(job: str = JOB, status: str = "202 Accepted", kind: str = "pipeline") -> str:
    return (
        f"HTTP/1.1 {status}\r\nlocation: /v1/jobs/{job}\r\nretry-after: 1\r\n\r\n"
        f'{{"id":"{job}","kind":"{kind}","status":"pending","links":{{}}}}'
    )


def test_a_shortened_id_matches_any_id_and_is_bound() -> None:
    bindings = Bindings()
    match_answer(bindings, SHOWN_202, answer_202(), "here")
    assert bindings["bdf61330…"] == "9f" * 16
    assert bindings.substitute("curl localhost:8000/v1/jobs/default.job-bdf61330…") == (
        f"curl localhost:8000/v1/jobs/{JOB}"
    )


@pytest.mark.parametrize(
    "answer",
    [
        answer_202(status="200 OK"),
        answer_202(kind="sleep"),
        answer_202(job="acme.job-" + "9f" * 16),
        answer_202().replace("location", "content-location"),
    ],
    ids=["status line", "a field's value", "the id's fixed part", "a header"],
)
def test_what_is_shown_must_be_there(answer: str) -> None:
    with pytest.raises(Mismatch):
        match_answer(Bindings(), SHOWN_202, answer, "here")


def test_a_bound_id_must_come_back_the_same() -> None:
    bindings = Bindings()
    match_answer(bindings, SHOWN_202, answer_202(), "first")
    match_answer(bindings, SHOWN_202, answer_202(), "replay")
    with pytest.raises(Mismatch):
        match_answer(bindings, SHOWN_202, answer_202(job="default.job-" + "ab" * 16), "replay")


def test_fields_left_out_need_an_ellipsis() -> None:
    shown = ['{"id":"x","status":"pending"}']
    with pytest.raises(Mismatch, match="not shown"):
        match_answer(Bindings(), shown, '{"id":"x","status":"pending","kind":"echo"}', "here")
    match_answer(Bindings(), ['{"id":"x",…}'], '{"id":"x","status":"pending"}', "here")


def test_values_timestamps_and_any() -> None:
    shown = parse_shown_json('{"at":"2026-11-24T01:28:33.053000+00:00","n":…,"l":[1,…]}')
    bindings = Bindings()
    bindings.match_json(shown, {"at": "2027-01-02T03:04:05+00:00", "n": 7, "l": [1, 2]}, "ok")
    with pytest.raises(Mismatch):
        bindings.match_json(shown, {"at": "yesterday", "n": 7, "l": [1]}, "bad time")
    with pytest.raises(Mismatch):
        bindings.match_json(shown, {"at": "2027-01-02T03:04:05Z", "n": 7, "l": [2]}, "bad item")


def test_text_lines_with_keys() -> None:
    bindings = Bindings()
    shown = ["key (shown once, store it now): lh_k3f9a1c2d4e5_Jx0…"]
    match_answer(bindings, shown, "key (shown once, store it now): lh_k6521b0535699_8e-V_q", "x")
    assert bindings.substitute("lh_k3f9a1c2d4e5_Jx0…") == "lh_k6521b0535699_8e-V_q"
    with pytest.raises(Mismatch):
        match_answer(Bindings(), shown, "key: lh_k6521b0535699_8eV", "x")


def test_console_blocks_split_into_commands_and_answers(tmp_path) -> None:
    body = (
        '$ curl -X POST x -d \\\n    \'{"a":\n  1}\'\n{"ok":true}        # a comment\n\n'
        "$ # nothing\n$ true\n"
    )
    commands = console_commands(Block(tmp_path / "x.md", 1, "console", body))
    assert [c.text for c in commands] == [
        "curl -X POST x -d \\\n    '{\"a\":\n  1}'",
        "# nothing",
        "true",
    ]
    assert commands[0].expected == ['{"ok":true}']
