"""Rerankers: the contract every registered backend passes, the http backend against loopback stand-ins
(each response shape, and the chat endpoint's bad-input cases), the stage's logic, and the settings."""

from __future__ import annotations

import math
import time

import pytest

from ragkit.config import BACKENDS, RerankConfig, config_from_dict, load_config
from ragkit.errors import RerankError, SettingError
from ragkit.rerank import RERANKERS, NoReranker, build_reranker, check_scores, register_reranker
from ragkit.retrieval.pipeline import Hit
from ragkit.retrieval.reranking import rerank_note, rerank_results

from fakes import ScriptedReranker, overlap_scores
from stand_in import StandIn, free_port

SECRET = "rk-test-DO-NOT-LEAK-9191"
KEY_ENV = "RAGKIT_TEST_RERANK_KEY"
QUERY = "what is the capital of France"
TEXTS = ["Berlin is a city in Germany.", "Paris is the capital of France.", "Bananas are yellow."]


# --------------------------------------------------------------------------- loopback /rerank servers


def _ranked(body: dict) -> list[tuple[int, float]]:
    """What a cross-encoder server computes: (index, score) best first, cut to top_n / top_k when asked."""
    texts = body.get("documents") if "documents" in body else body.get("texts")
    scores = overlap_scores(body["query"], texts)
    ranked = sorted(enumerate(scores), key=lambda pair: -pair[1])   # servers answer best first, not by index
    top = body.get("top_n", body.get("top_k"))
    return ranked[:top] if top else ranked


def _answer(variant: str, body: dict):
    """The response body of one server family for a request it accepts."""
    ranked = _ranked(body)
    texts = body.get("documents") or body.get("texts")
    if variant == "tei":        # Hugging Face TEI: a bare list of {index, score}
        return [{"index": i, "score": s} for i, s in ranked]
    if variant == "voyage":     # Voyage: "data", not "results"
        return {"object": "list", "model": body.get("model"), "usage": {"total_tokens": 9},
                "data": [{"index": i, "relevance_score": s} for i, s in ranked]}
    results = [{"index": i, "relevance_score": s} for i, s in ranked]
    if variant == "llamacpp":   # llama.cpp / Jina / vLLM echo each document and report usage
        results = [{**r, "document": {"text": texts[r["index"]]}} for r in results]
        return {"model": body.get("model", "bge-reranker"), "usage": {"prompt_tokens": 58, "total_tokens": 58},
                "results": results}
    return {"id": "r-1", "results": results, "meta": {"billed_units": {"search_units": 1}}}   # Cohere v2


def _accepts(variant: str, body) -> str | None:
    """Why this server family would refuse ``body`` (HTTP 422), or None."""
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return "missing field `query`"
    if variant == "tei":
        return None if isinstance(body.get("texts"), list) and "documents" not in body else "missing field `texts`"
    if not isinstance(body.get("documents"), list):
        return "missing field `documents`"
    if variant == "voyage" and "top_n" in body:
        return "unknown field `top_n`; did you mean `top_k`?"
    return None


VARIANTS = {"cohere": ("cohere", "/v2/rerank"), "llamacpp": ("cohere", "/v1/rerank"),
            "voyage": ("voyage", "/v1/rerank"), "tei": ("tei", "/rerank")}


def serve(variant: str, delay: float = 0.0) -> StandIn:
    """A stand-in of one server family scoring by term overlap (a tiny cross-encoder)."""
    def reply(path, body):
        if path != VARIANTS[variant][1]:
            return 404, {"error": "Not Found"}
        problem = _accepts(variant, body)
        return (422, {"error": problem}) if problem else (200, _answer(variant, body))
    return StandIn(reply, delay)


def scripted(*answers) -> StandIn:
    """A stand-in answering its requests with ``answers`` in order (``(status, payload[, headers])``), the last repeated."""
    sent = list(answers)
    return StandIn(lambda path, body: sent.pop(0) if len(sent) > 1 else sent[0])


@pytest.fixture
def servers():
    made: list[StandIn] = []

    def keep(server: StandIn) -> StandIn:
        made.append(server)
        return server

    yield keep
    for server in made:
        server.close()


def http(url: str, **settings) -> object:
    """The http reranker for ``url`` (quick to give up: tests never wait)."""
    settings = {"timeout_s": 2.0, "backoff_s": 0.0, **settings}
    return build_reranker("http", RerankConfig(url=url, **settings))


# --------------------------------------------------------------------------- the reranker contract

CONTRACT = [pytest.param("none", None, id="none"), pytest.param("fake", None, id="fake")] + [
    pytest.param("http", variant, id=f"http-{variant}-stand-in") for variant in VARIANTS]


def _contract_reranker(name: str, variant: str | None, servers, monkeypatch):
    if name != "http":
        return build_reranker(name, RerankConfig())
    monkeypatch.setenv(KEY_ENV, SECRET)
    server = servers(serve(variant))
    api, path = VARIANTS[variant]
    return http(server.root + path, api=api, model="stand-in", api_key_env=KEY_ENV)


def test_contract_covers_every_registered_reranker():
    assert set(RERANKERS) == {p.values[0] for p in CONTRACT}   # "fake" is registered by conftest


@pytest.mark.parametrize("name, variant", CONTRACT)
def test_reranker_contract(name, variant, servers, monkeypatch, capfd):
    """One finite score per text, following the texts (not their positions); the relevant text first; quiet; no key shown."""
    reranker = _contract_reranker(name, variant, servers, monkeypatch)
    assert reranker.name == name and reranker.model_id and SECRET not in repr(reranker) + reranker.model_id
    scores = reranker.rerank(QUERY, TEXTS)
    assert check_scores(scores, len(TEXTS), name) == scores
    assert reranker.rerank(QUERY, []) == []
    if not reranker.active:   # a no-op keeps the fused order
        assert scores == sorted(scores, reverse=True)
    else:
        assert max(range(len(TEXTS)), key=scores.__getitem__) == 1
        assert reranker.rerank(QUERY, TEXTS) == scores                       # deterministic
        permuted = reranker.rerank(QUERY, [TEXTS[2], TEXTS[1], TEXTS[0]])
        assert permuted == [scores[2], scores[1], scores[0]]                 # scores follow their texts
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""


def test_a_registered_reranker_is_built_by_its_name_and_config_files_may_name_it():
    register_reranker("scripted-test", lambda cfg: ScriptedReranker())
    try:
        assert build_reranker("scripted-test").name == "scripted-test"
        assert config_from_dict({"search": {"rerank": "scripted-test"}}).search.rerank == "scripted-test"
    finally:
        RERANKERS.pop("scripted-test")
        BACKENDS[("search", "rerank")].discard("scripted-test")
    with pytest.raises(RerankError, match=r"unknown search.rerank 'scripted-test'; choose one of .*http, none"):
        build_reranker("scripted-test")


# --------------------------------------------------------------------------- http: requests sent


def test_http_requests_have_each_api_shape_and_the_key_only_in_the_header(servers, monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    for variant, (api, path) in VARIANTS.items():
        server = servers(serve(variant))
        reranker = http(server.root + path, api=api, model="m-1", api_key_env=KEY_ENV)
        reranker.rerank(QUERY, TEXTS)
        sent = server.requests[0]
        assert sent["auth"] == f"Bearer {SECRET}"
        if api == "tei":
            assert sent["json"] == {"query": QUERY, "texts": TEXTS}
        else:
            top = "top_k" if api == "voyage" else "top_n"
            assert sent["json"] == {"model": "m-1", "query": QUERY, "documents": TEXTS, top: 3}


def test_http_without_model_or_key_sends_neither(servers):
    server = servers(serve("llamacpp"))
    http(server.root + "/v1/rerank").rerank(QUERY, TEXTS)
    assert server.requests[0]["auth"] is None and "model" not in server.requests[0]["json"]


def test_a_tei_server_asked_in_the_cohere_shape_names_rerank_api(servers):
    server = servers(serve("tei"))
    with pytest.raises(RerankError, match=r"refused the request \(HTTP 422; .*rerank.api: tei sends \{query, texts\}"
                                          r".*missing field `texts`"):
        http(server.root + "/rerank").rerank(QUERY, TEXTS)


# --------------------------------------------------------------------------- http: retries


def test_http_retries_429_and_5xx_then_succeeds(servers):
    good = (200, _answer("cohere", {"query": QUERY, "documents": TEXTS}))
    server = servers(scripted((503, {"error": "loading"}), (429, {"error": "slow down"}, {"Retry-After": "0"}), good))
    scores = http(server.root + "/v2/rerank", retries=2).rerank(QUERY, TEXTS)
    assert len(server.requests) == 3 and max(range(3), key=scores.__getitem__) == 1


@pytest.mark.parametrize("status, message", [(503, r"answered HTTP 503 after 1 retries \(check the server\): down"),
                                             (429, r"kept rate-limiting \(HTTP 429\) after 1 retries")])
def test_http_gives_up_after_its_retries_in_one_line(servers, status, message):
    server = servers(scripted((status, {"error": {"message": "down"}})))
    with pytest.raises(RerankError, match=message):
        http(server.root + "/rerank", retries=1).rerank(QUERY, TEXTS)
    assert len(server.requests) == 2


def test_http_does_not_retry_a_client_error(servers):
    server = servers(scripted((400, {"message": "query too long"})))
    with pytest.raises(RerankError, match=r"HTTP 400; .*: query too long$"):
        http(server.root + "/rerank", retries=3).rerank(QUERY, TEXTS)
    assert len(server.requests) == 1


# --------------------------------------------------------------------------- http: bad input, one line each

GOOD = [{"index": 0, "relevance_score": 0.1}, {"index": 1, "relevance_score": 0.9}]
BAD_ANSWERS = [
    pytest.param((200, b"<html>gateway</html>"), r"answered something that is not JSON \(check rerank.url", id="not-json"),
    pytest.param((200, {"scores": [0.1, 0.9, 0.2]}), r"answered JSON of an unknown shape", id="wrong-shape"),
    pytest.param((200, {"results": "all good"}), r"answered JSON of an unknown shape", id="results-not-a-list"),
    pytest.param((200, {"results": GOOD}), r"scored 2 of 3 texts \(missing indexes 2; does the server cap top_n\?\)",
                 id="missing-index"),
    pytest.param((200, {"results": GOOD + [{"index": 7, "relevance_score": 0.3}]}), r"answered index 7 out of range for 3",
                 id="index-out-of-range"),
    pytest.param((200, {"results": GOOD + [{"index": 1, "relevance_score": 0.3}]}), r"answered index 1 twice",
                 id="index-twice"),
    pytest.param((200, {"results": GOOD + [{"index": 2, "relevance_score": 0.3}, {"index": 3, "relevance_score": 0}]}),
                 r"answered index 3 out of range for 3 texts", id="wrong-count"),
    pytest.param((200, {"results": GOOD + [{"index": 2, "relevance_score": "high"}]}),
                 r"without an integer index and a numeric relevance_score \(or score\)", id="score-not-a-number"),
    pytest.param((200, [{"index": "0", "score": 1.0}]), r"without an integer index", id="index-not-an-integer"),
    pytest.param((404, {"error": "Not Found"}), r"answered HTTP 404 \(check rerank.url, e.g. TEI", id="http-404"),
    pytest.param((422, {"detail": [{"msg": "field required"}]}), r"refused the request \(HTTP 422; check rerank.model",
                 id="http-422"),
]


@pytest.mark.parametrize("answer, message", BAD_ANSWERS)
def test_http_bad_answers_are_one_line_errors(servers, answer, message):
    server = servers(scripted(answer))
    with pytest.raises(RerankError, match=message) as info:
        http(server.root + "/rerank").rerank(QUERY, TEXTS)
    assert "\n" not in str(info.value) and info.value.__cause__ is None


def test_http_unreachable_endpoint_names_rerank_url_quickly():
    url = f"http://127.0.0.1:{free_port()}/rerank"
    start = time.perf_counter()
    with pytest.raises(RerankError) as info:
        http(url, retries=3).rerank(QUERY, TEXTS)
    assert time.perf_counter() - start < 10
    assert str(info.value) == f"cannot reach the reranker at {url} (check rerank.url, or the server)"
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_http_timeout_names_rerank_timeout_s(servers):
    server = servers(serve("tei", delay=1.5))
    with pytest.raises(RerankError, match=r"did not answer within 0.2 s \(check the server, or raise rerank.timeout_s\)"):
        http(server.root + "/rerank", api="tei", timeout_s=0.2).rerank(QUERY, TEXTS)


def test_http_rejected_key_names_the_variable_not_the_value(servers, monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    server = servers(scripted((401, {"message": f"invalid api token: {SECRET}"})))
    reranker = http(server.root + "/v2/rerank", api_key_env=KEY_ENV)
    with pytest.raises(RerankError) as info:
        reranker.rerank(QUERY, TEXTS)
    assert str(info.value) == (f"the reranker at {server.root}/v2/rerank refused the request (HTTP 401; "
                               f"check ${KEY_ENV})")
    assert server.requests[0]["auth"] == f"Bearer {SECRET}" and SECRET not in repr(reranker)


def test_http_errors_never_hold_the_key_nor_span_lines(servers, monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    server = servers(scripted((500, {"error": {"message": f"boom\nnear {SECRET}"}})))
    with pytest.raises(RerankError) as info:
        http(server.root + "/rerank", api_key_env=KEY_ENV, retries=0).rerank(QUERY, TEXTS)
    assert "HTTP 500" in str(info.value) and "\n" not in str(info.value) and SECRET not in str(info.value)


def test_http_without_a_key_that_needs_one_says_how_to_give_it(servers):
    server = servers(scripted((403, {"message": "forbidden"})))
    with pytest.raises(RerankError, match=r"HTTP 403; it may need a key: set rerank.api_key_env"):
        http(server.root + "/rerank").rerank(QUERY, TEXTS)


@pytest.mark.parametrize("settings, message", [
    ({}, r"^search.rerank is 'http' but rerank.url is not set \(for example TEI http://localhost:8080/rerank"),
    ({"url": "localhost:8080/rerank"}, r"^rerank.url must start with http:// or https://"),
    ({"url": "http://127.0.0.1:9/rerank", "api_key_env": KEY_ENV}, rf"^rerank.api_key_env names \${KEY_ENV}, which is not set$"),
])
def test_http_settings_that_cannot_work_fail_when_built_and_nothing_is_sent(settings, message, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(RerankError, match=message):
        build_reranker("http", RerankConfig(**settings))


def test_url_credentials_stay_out_of_ids_and_messages():
    reranker = http(f"http://user:hunter2@127.0.0.1:{free_port()}/rerank?token=abc", model="bge")
    assert reranker.model_id.startswith("http:bge@http://127.0.0.1:") and "hunter2" not in repr(reranker)
    with pytest.raises(RerankError) as info:
        reranker.rerank(QUERY, TEXTS)
    assert "hunter2" not in str(info.value) and "token=abc" not in str(info.value)


# --------------------------------------------------------------------------- the stage's logic


def _results(n: int) -> list[Hit]:
    return [Hit(rank=i, score=1.0 / i, chunk_id=f"c{i}", doc_id=f"d{i}", source=f"f{i}.md", page=None,
                         text=f"text {i}", metadata={"context": f"title {i}"} if i == 1 else {})
            for i in range(1, n + 1)]


def test_the_reranker_orders_the_candidates_and_the_rest_keeps_the_fused_order():
    fused = _results(6)
    reranker = ScriptedReranker(lambda query, texts: [0.2, 0.9, 0.2, 0.5])
    reranked, step = rerank_results(reranker, "q", fused, candidates=4)
    assert reranker.calls == [("q", ["title 1\ntext 1", "text 2", "text 3", "text 4"])]   # as the indexes saw them
    assert [r.chunk_id for r in reranked] == ["c2", "c4", "c1", "c3", "c5", "c6"]   # a tie keeps the fused order
    assert [r.rank for r in reranked] == [1, 2, 3, 4, 5, 6]
    assert [r.fused_rank for r in reranked] == [2, 4, 1, 3, None, None]
    assert [r.rerank_score for r in reranked[:4]] == [0.9, 0.5, 0.2, 0.2] and reranked[4].rerank_score is None
    assert reranked[0].score == fused[1].score   # the fused score is kept beside the rerank score
    assert step["results"][0] == {"chunk_id": "c2", "before": 2, "after": 1, "score": 0.9}
    assert step["candidates"] == 4 and step["error"] is None and rerank_note(step) is None
    assert reranked[0].to_json()["rerank_score"] == 0.9 and reranked[0].to_json()["fused_rank"] == 2
    assert "rerank_score" not in reranked[4].to_json() and "rerank_score" not in fused[0].to_json()


def _raises(query, texts):
    raise RerankError("the stand-in reranker is down")


@pytest.mark.parametrize("script, reason", [
    (_raises, "the stand-in reranker is down"),
    (lambda query, texts: [1.0, 2.0], "the reranker fake returned 2 scores for 3 texts"),
    (lambda query, texts: [1.0, math.nan, 0.0], "returned nan as the score of text 1, not a finite number"),
    (lambda query, texts: {"scores": [1, 2, 3]}, "returned dict, not a list of scores"),
])
def test_a_failing_reranker_leaves_the_fused_order_and_says_why(script, reason):
    fused = _results(3)
    reranked, step = rerank_results(ScriptedReranker(script), "q", fused, candidates=20)
    assert reranked == fused and step["error"].endswith(reason) and step["results"] == []
    assert rerank_note(step) == f"reranking (fake) failed, so results are in fused order: {step['error']}"


def test_no_reranker_is_no_step():
    fused = _results(3)
    assert rerank_results(NoReranker(), "q", fused, 20) == (fused, None)
    assert rerank_results(ScriptedReranker(), "q", [], 20) == ([], None)


def test_retrieval_asks_for_enough_candidates_and_reranks_once_after_fusion(searcher):
    from ragkit.retrieval.pipeline import rerank_step, retrieve
    from ragkit.retrieval.transforms import QueryPlan

    reranker = ScriptedReranker(lambda query, texts: [float(i) for i in range(len(texts))])   # reverse
    searcher._reranker = reranker
    plain = retrieve(searcher.__class__(searcher.index.path, searcher.cfg, reranker=NoReranker()),
                     QueryPlan("rag-fusion", "cats mice", ["cats mice", "felines hunting"], fusion="rrf"), "hybrid", 2)[0]
    plan = QueryPlan("rag-fusion", "cats mice", ["cats mice", "felines hunting"], fusion="rrf")
    results, trace = retrieve(searcher, plan, "hybrid", 2)
    assert len(plain) == 2 and len(results) > 2              # depth 2 became search.rerank_candidates (20)
    assert len(reranker.calls) == 1 and reranker.calls[0][0] == "cats mice"   # once, with the question
    assert [r.fused_rank for r in results] == list(range(len(results), 0, -1))
    assert rerank_step(trace)["reranker"] == "fake" and "rerank" not in trace[-2]


# --------------------------------------------------------------------------- settings


def test_search_rerank_is_checked_against_the_registry():
    with pytest.raises(SettingError) as info:
        config_from_dict({"search": {"rerank": "cross-encoder"}})
    assert str(info.value) == "config: 'search.rerank' is 'cross-encoder'; choose one of fake, http, none"


@pytest.mark.parametrize("raw, message", [
    ({"search": {"rerank_candidates": 0}}, "'search.rerank_candidates'"),
    ({"rerank": {"api": "openai"}}, "'rerank.api'"),
    ({"rerank": {"urll": "http://x"}}, "rerank.urll"),
    ({"rerank": {"retries": -1}}, "'rerank.retries'"),
    ({"rerank": {"timeout_s": 0}}, "'rerank.timeout_s'"),
])
def test_rerank_settings_are_validated(raw, message):
    with pytest.raises(SettingError, match=message):
        config_from_dict(raw)


def test_a_config_file_naming_an_unknown_reranker_points_at_its_line(tmp_path):
    path = tmp_path / "rerank.yaml"
    path.write_text("search:\n  mode: hybrid\n  rerank: colbert\n")
    with pytest.raises(SettingError) as info:
        load_config(path)
    assert str(info.value) == f"{path} line 3: 'search.rerank' is 'colbert'; choose one of fake, http, none"


def test_the_defaults_rerank_nothing():
    cfg = config_from_dict({})
    assert cfg.search.rerank == "none" and cfg.search.rerank_candidates == 20
    assert cfg.rerank == RerankConfig() and cfg.rerank.api == "cohere" and cfg.rerank.url is None


def test_the_trace_shows_each_move_and_score_or_the_fallback():
    from ragkit.cli.render import rerank_moves

    step = {"seconds": 0.012, "remote": True, "error": None,
            "results": [{"chunk_id": "abcdef123456", "before": 3, "after": 1, "score": 0.9},
                        {"chunk_id": "0123456789ab", "before": 1, "after": 2, "score": 0.25}]}
    assert rerank_moves(step) == "abcdef12 #3→#1 0.900, 01234567 #1→#2 0.250 (0.01s; sent to another machine)"
    assert rerank_moves(step, shown=1).startswith("abcdef12 #3→#1 0.900, … (1 more)")
    assert rerank_moves({**step, "error": "down", "results": []}) == "failed after 0.01s; fused order kept"
