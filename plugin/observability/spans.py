"""Each ragdrop stage as a LlamaIndex instrumentation span, so existing span handlers see it."""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.span import active_span_id

SPAN_PREFIX = "ragdrop.stage."


def _stage(name: str) -> None:
    """Signature that span handlers see as the stage's bound arguments."""


_SIGNATURE = inspect.signature(_stage)


@contextmanager
def stage_span(name: str) -> Iterator[str]:
    """Open a span ``ragdrop.stage.<name>-<uuid>`` as a child of the active LlamaIndex span.

    Spans opened inside the block (an embedding call, a retriever) become its children.
    Yields the span id. Errors end the span with ``span_drop`` and propagate.
    """
    dispatcher = get_dispatcher("ragdrop")
    span_id = f"{SPAN_PREFIX}{name}-{uuid.uuid4()}"
    bound_args = _SIGNATURE.bind(name)
    token = active_span_id.set(span_id)
    parent_id = token.old_value if isinstance(token.old_value, str) else None
    dispatcher.span_enter(id_=span_id, bound_args=bound_args, parent_id=parent_id, tags={})
    try:
        yield span_id
    except BaseException as exc:
        dispatcher.span_drop(id_=span_id, bound_args=bound_args, err=exc)
        raise
    else:
        dispatcher.span_exit(id_=span_id, bound_args=bound_args, result=None)
    finally:
        try:
            active_span_id.reset(token)
        except ValueError:
            # A generator stage resumed in another context (async iteration) cannot reset
            # the token; LlamaIndex's own dispatcher tolerates the same case.
            active_span_id.set(parent_id)
