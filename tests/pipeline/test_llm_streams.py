"""Finding the HTTP responses a streaming generator chain holds, and nothing else."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ragdrop.pipeline.llm_streams import stop_stream, streamed_responses

pytestmark = pytest.mark.unit

ELSEWHERE: dict[str, httpx.Response] = {}


class Holder:
    def __init__(self, response: httpx.Response) -> None:
        self.response = response


def response() -> httpx.Response:
    return httpx.Response(200, stream=httpx.ByteStream(b"data"))


def inner(holder: Holder) -> Iterator[str]:
    yield "token"


def outer(holder: Holder) -> Iterator[str]:
    for token in inner(holder):  # noqa: UP028 - a for loop, as LlamaIndex wraps streams
        yield token


def test_the_chain_s_responses_are_found_and_closed() -> None:
    mine = response()
    ELSEWHERE["other"] = response()  # another request's, reachable only through globals
    chunks = outer(Holder(mine))
    assert next(chunks) == "token"
    assert streamed_responses(chunks) == [mine]
    stop_stream(chunks)
    assert mine.is_closed and not ELSEWHERE["other"].is_closed
    assert streamed_responses(chunks) == []


def test_closed_responses_and_plain_iterators_are_left_alone() -> None:
    done = response()
    done.close()
    assert streamed_responses(outer(Holder(done))) == []
    stop_stream(iter(["a"]))  # no close method: nothing to do
