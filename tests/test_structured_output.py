"""ChatLLM.complete(schema=...): held to the schema where the backend supports it (llama.cpp), ignored elsewhere."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from ragkit.config import LLMConfig
from ragkit.llm.base import ChatLLM
from ragkit.llm.local import build_local

SCHEMA = {"type": "object", "properties": {"queries": {"type": "array", "items": {"type": "string"}}},
          "required": ["queries"]}


class Recording(BaseChatModel):
    """Replies with a fixed JSON text and records the keyword arguments of every call."""

    seen: list = []

    @property
    def _llm_type(self) -> str:
        return "recording"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs: Any) -> ChatResult:
        self.seen.append(kwargs)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content='{"queries": ["a b c"]}'))])


def test_a_structured_backend_gets_the_schema_as_response_format(tmp_path):
    model = Recording(seen=[])
    llm = ChatLLM(model, "rec", 4096, {}, tmp_path / "cache.sqlite", structured_output=True)
    assert llm.complete("rewrite", schema=SCHEMA) == '{"queries": ["a b c"]}'
    assert model.seen[-1]["response_format"] == {"type": "json_object", "schema": SCHEMA}
    llm.complete("rewrite")  # the same prompt unconstrained is another call, not the held reply from the cache
    assert len(model.seen) == 2 and "response_format" not in model.seen[-1]
    llm.complete("rewrite", schema=SCHEMA)
    assert len(model.seen) == 2 and llm.usage.cached_calls == 1


def test_any_other_backend_ignores_the_schema():
    model = Recording(seen=[])
    llm = ChatLLM(model, "rec", 4096, {}, None)
    assert not llm.structured_output
    llm.complete("rewrite", schema=SCHEMA)
    assert "response_format" not in model.seen[-1]


def test_the_local_backend_declares_structured_output_without_loading_anything():
    llm = build_local(LLMConfig(kind="local"), None)
    assert llm.structured_output and llm._model is None
