"""LangSmith tracing: one ``ask`` is one trace, each stage a child run, the model calls nested in their stage.

With LangSmith's environment variables set (``LANGSMITH_TRACING=true``, ``LANGSMITH_API_KEY``,
and ``LANGSMITH_ENDPOINT`` for a self-hosted server), :func:`traced` makes a function a run and
:func:`stage` a block of one; LangChain chat models called inside a stage attach themselves to it,
since LangChain reads the same run context. With tracing off (the default) both do nothing:
no run object is made, nothing is sent, and langsmith is asked only whether tracing is on.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from typing import Any, Callable, Iterator

Outputs = Callable[[dict], None]
"""Records a stage's outputs on its run (does nothing when tracing is off)."""


def tracing_enabled() -> bool:
    """LangSmith tracing is on: its environment variables, or a ``tracing_context`` / ``traceable`` around us."""
    from langsmith.utils import tracing_is_enabled  # already imported by langchain-core: no cost

    return tracing_is_enabled() is True


def _ignore(outputs: dict) -> None:
    """The outputs of a stage nobody traces."""


@contextmanager
def stage(name: str, run_type: str, inputs: dict) -> Iterator[Outputs]:
    """A run named ``name`` (``run_type``: chain, retriever, llm, …) around a block, child of the
    current run; yields a function that records the block's outputs."""
    if not tracing_enabled():
        yield _ignore
        return
    import langsmith

    with langsmith.trace(name, run_type=run_type, inputs=inputs) as run:
        yield run.add_outputs


def traced(name: str, run_type: str, inputs: Callable[..., dict], outputs: Callable[[Any], dict]):
    """Decorate a function so that each call is a run: ``inputs(*args, **kwargs)`` and
    ``outputs(result)`` say what the run records (they are only called when tracing is on)."""
    def decorate(function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            if not tracing_enabled():
                return function(*args, **kwargs)
            with stage(name, run_type, inputs(*args, **kwargs)) as record:
                result = function(*args, **kwargs)
                record(outputs(result))
                return result
        return wrapper
    return decorate
