"""``llm.kind: langchain``: any chat model LangChain's ``init_chat_model`` builds, named ``provider:model``.

``llm.model: "anthropic:claude-sonnet-4-5"``, ``"ollama:llama3.2"``, ``"mistralai:mistral-large-latest"``,
``"openai:gpt-4o-mini"``, … — whatever provider the ``langchain`` package knows, as long as its
integration package (langchain-anthropic, langchain-ollama, …) is installed; the provider's key
comes from its usual environment variable. ``llm.base_url`` is passed on. Like every backend, the
model is built at the first call, so building needs neither the package nor the network.
"""

from __future__ import annotations

from pathlib import Path

from langchain_core.language_models import BaseChatModel

from ragkit.config import LLMConfig
from ragkit.errors import LLMError
from ragkit.llm.base import ChatLLM, chat_params, scrub_secret
from ragkit.text import one_line

# Tokens assumed when llm.context_window is 0: small enough for most hosted and local models,
# so the context budget never overfills one whose window ragkit cannot know.
PROVIDER_CONTEXT = 8192


def build_provider(cfg: LLMConfig, cache_path: Path | None) -> ChatLLM:
    """``llm.kind: langchain``: the ``provider:model`` in ``llm.model``, through ``init_chat_model``."""
    provider, _, name = (cfg.model or "").partition(":")
    if not (provider and name):
        raise LLMError("llm.kind 'langchain' needs llm.model as provider:model, e.g. 'anthropic:claude-sonnet-4-5' "
                       "or 'ollama:llama3.2'")

    def factory() -> BaseChatModel:
        from langchain.chat_models import init_chat_model

        # Only the settings every provider takes: an unknown keyword is an error for some of them.
        options = {"temperature": cfg.temperature, "max_tokens": cfg.max_tokens}
        if cfg.base_url:
            options["base_url"] = cfg.base_url
        try:
            return init_chat_model(cfg.model, **options)
        except ImportError as exc:  # the provider's integration package is not installed
            raise LLMError(one_line(f"llm.model '{cfg.model}' needs the provider's LangChain package: {exc}")) from None
        except ValueError as exc:  # a provider LangChain does not know
            raise LLMError(scrub_secret(f"llm.model '{cfg.model}': {exc}")) from None

    return ChatLLM(factory, f"langchain:{cfg.model}", cfg.context_window or PROVIDER_CONTEXT, chat_params(cfg),
                   cache_path, kind="langchain")
