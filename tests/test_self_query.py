"""Self-query (issue 23, point 1): rules, the model's filter held to a schema, validation, retrieval, CLI, OpenAI path."""

import json
import re
import shlex

import pytest
from typer.testing import CliRunner

from ragkit.cli import app
from ragkit.config import AskConfig, LLMConfig
from ragkit.errors import UsageError
from ragkit.generation.ask import ask
from ragkit.ingest.pipeline import ingest
from ragkit.llm import build_llm
from ragkit.llm.base import ChatLLM
from ragkit.retrieval.pipeline import retrieve
from ragkit.retrieval.search import Searcher
from ragkit.retrieval.self_query import (
    Catalog,
    Field,
    build_catalog,
    index_catalog,
    question_tokens,
    rule_filters,
    validate_filter,
)
from ragkit.retrieval.transform_prompts import self_query_schema as output_schema
from ragkit.retrieval.transforms import plan_queries

from conftest import REPO, have_local_model, write_docs
from fakes import ScriptedChatModel, fake_llm
from stand_in import StandIn

# Five filings of two companies whose names hold year, quarter and ticker, and a notes file with headings.
# Each filing states its own figure, so a filter that works puts the named filing first.
FILINGS = {
    ("2022", "Q3", "ACME"): "82", ("2023", "Q1", "ACME"): "117", ("2023", "Q3", "ACME"): "81",
    ("2022", "Q3", "GLBX"): "40", ("2023", "Q3", "GLBX"): "45",
}
NAMES = {"ACME": "Acme Roadrunner Corporation, Tucson (www.roadrunner.com)", "GLBX": "Globex Cypress Corporation, Springfield"}


def _docs() -> dict[str, str]:
    docs = {f"{y} {q} {t}.txt": f"{NAMES[t]}. Quarterly report on form 10-Q.\n\nTotal net sales for the quarter were "
                                 f"{sales} million dollars, and the company expects growth." for (y, q, t), sales in FILINGS.items()}
    docs["notes/field-notes.md"] = "# Field notes\n\n## Parsing\n\nParsing limits protect the ingest from hostile files."
    return docs


@pytest.fixture
def searcher(tmp_path, fast_cfg):
    ingest(write_docs(tmp_path / "docs", _docs()), tmp_path / "idx", fast_cfg)
    s = Searcher(tmp_path / "idx", fast_cfg)
    yield s
    s.close()


@pytest.fixture
def catalog(searcher):
    return index_catalog(searcher)


# --- the catalog and the rules ---------------------------------------------------------------------

def test_the_catalog_holds_the_real_fields_and_names_of_each_ticker(catalog):
    assert set(catalog.fields["source"].values) == set(_docs())
    assert "title" in catalog.fields and "type" in catalog.fields and not {"chunk_id", "start", "context"} & set(catalog.fields)
    assert catalog.aliases["acme"] == "ACME" and catalog.aliases["globex"] == "GLBX"
    assert catalog.aliases["roadrunner"] == "ACME"   # its web address is no lower-case use of the name
    assert "quarterly" not in catalog.aliases and "total" not in catalog.aliases   # written in lower case too


@pytest.mark.parametrize("question, expected", [
    ("What were Acme's net sales in Q3 2023?", "2023 Q3 ACME.txt"),
    ("What did Globex report for the third quarter of 2022?", "2022 Q3 GLBX.txt"),
    ("Net sales of GLBX in 3Q23?", "2023 Q3 GLBX.txt"),
    ("How have ACME's sales changed over time?", "*ACME*"),
    ("What were Globex's net sales?", "*GLBX*"),                 # not *Q3*GLBX*, though both are Q3
    ("What does field-notes.md say about parsing?", "notes/field-notes.md"),
    ("What does field-notes say about parsing?", "notes/field-notes.md"),
    ("What were Acme's net sales in its most recent 10-Q?", "2023 Q3 ACME.txt"),   # the latest year and quarter
    ("Globex's latest quarterly report: net sales?", "2023 Q3 GLBX.txt"),
    ("Acme's latest report of 2022?", "2022 Q3 ACME.txt"),          # a year named: the latest of that year
])
def test_rules_find_files_years_quarters_and_tickers(catalog, question, expected):
    filters, notes = rule_filters(question, catalog)
    assert filters == {"source": expected} and notes[0].startswith(f"rules: source={expected}")


def test_a_year_alone_selects_that_years_files(catalog, searcher):
    filters, _ = rule_filters("What happened in 2023?", catalog)
    rows = searcher.index.docstore.rows_matching(filters)
    assert {c.source for c in searcher.index.docstore.get(rows).values()} == {
        "2023 Q1 ACME.txt", "2023 Q3 ACME.txt", "2023 Q3 GLBX.txt"}


@pytest.mark.parametrize("question", ["Which quarter had the best sales?", "What is a 10-Q?", "Sales in 2019?"])
def test_no_rule_filter_without_a_name_the_index_holds(catalog, question):
    filters, notes = rule_filters(question, catalog)
    assert filters == {}
    if "2019" in question:
        assert any("no file name holds year 2019" in n for n in notes)


def test_question_tokens_read_the_usual_ways_of_naming_a_quarter():
    for text in ("Q3 2023", "Q3'23", "Q3 FY23", "3Q23", "third quarter of 2023", "3rd fiscal quarter 2023"):
        found, _ = question_tokens(text, {})
        assert found["quarter"] == {"Q3"} and found["year"] == {"2023"}, text


# --- validation ------------------------------------------------------------------------------------

SMALL = Catalog({"source": Field("source", "text", ("a.pdf", "b.pdf")), "page": Field("page", "integer", ("1", "2"))})


@pytest.mark.parametrize("raw, kept, note", [
    ({"source": "a.pdf", "page": 2}, {"source": "a.pdf", "page": "2"}, None),
    ({"source": "A.PDF"}, {"source": "a.pdf"}, None),                        # the index's spelling
    ({"source": "*.pdf"}, {"source": "*.pdf"}, None),                        # a glob that matches
    ({"author": "Smith"}, {}, "the index has no field 'author'"),
    ({"source": "c.pdf"}, {}, 'no chunk has source "c.pdf"'),
    ({"page": "three"}, {}, "page must be a whole number"),
    ({"page": True}, {}, "page must be a whole number"),
    ({"page": 9}, {}, "no chunk has page"),
    ({"source": ["a.pdf"]}, {}, "source must be text"),
    ("source=a.pdf", {}, "not a mapping"),
    ({"source": None, "page": ""}, {}, None),
])
def test_validation_drops_what_the_index_lacks(raw, kept, note):
    filters, notes = validate_filter(raw, SMALL)
    assert filters == kept
    assert (note is None and notes == []) or any(note in n for n in notes)


def test_the_schema_holds_the_model_to_the_index_fields_and_values(catalog):
    schema = output_schema(catalog)
    fields = schema["properties"]["filter"]
    assert fields["additionalProperties"] is False and set(fields["properties"]) == set(catalog.fields)
    assert set(fields["properties"]["source"]["enum"]) == set(_docs())


# --- the model pass (a scripted model held to a schema) ----------------------------------------------

class Recording(ScriptedChatModel):
    """A scripted model that keeps each call's keyword arguments (the response_format)."""

    seen: list = []

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        self.seen.append(kwargs)
        return super()._generate(messages, stop, run_manager, **kwargs)


def held_model(*replies, kind="local"):
    model = Recording(script=[json.dumps(r) if isinstance(r, dict) else r for r in replies], seen=[])
    return ChatLLM(model, "fake:held", 8192, {}, None, kind=kind, structured_output=True), model


def test_the_model_adds_a_valid_filter_and_a_search_text(searcher):
    llm, model = held_model({"query": "total net sales", "filter": {"source": "2023 Q1 ACME.txt"}})
    plan = plan_queries("What were the net sales at the start of the year?", "self-query", llm, searcher=searcher)
    assert plan.filters == {"source": "2023 Q1 ACME.txt"} and plan.queries[1] == "total net sales"
    assert model.seen[0]["response_format"]["type"] == "json_object"      # llama.cpp's grammar
    assert "2023 Q1 ACME.txt" in model.seen[0]["response_format"]["schema"]["properties"]["filter"]["properties"][
        "source"]["enum"]
    hits, _ = retrieve(searcher, plan, "hybrid", 10)
    assert hits and {h.source for h in hits} == {"2023 Q1 ACME.txt"}


def test_the_rules_win_over_the_model_and_bad_fields_are_dropped_with_a_note(searcher):
    llm, _ = held_model({"query": "sales", "filter": {"source": "2022 Q3 GLBX.txt", "author": "x"}})
    plan = plan_queries("What were Acme's net sales in Q3 2023?", "self-query", llm, searcher=searcher)
    assert plan.filters == {"source": "2023 Q3 ACME.txt"}
    notes = " | ".join(plan.notes)
    assert "set aside for the rules' source=2023 Q3 ACME.txt" in notes and "no field 'author'" in notes


@pytest.mark.parametrize("reply, why", [("not json at all", "not JSON"), ("[1, 2]", "not a JSON object"),
                                        ({"query": "x", "filter": {"page": 3}}, "no field 'page'"),
                                        ({"query": "x", "filter": {}}, "no usable filter")])
def test_an_unusable_reply_falls_back_to_no_filter_with_a_note(searcher, reply, why):
    llm, _ = held_model(reply)
    plan = plan_queries("Which quarter had the best sales?", "self-query", llm, searcher=searcher)
    assert plan.filters == {} and plan.queries == ["Which quarter had the best sales?"]
    assert why in " | ".join(plan.notes) and plan.notes[-1] == "self-query: no usable filter; searching the whole index"


def test_a_filter_that_matches_nothing_together_is_not_applied(searcher):
    llm, _ = held_model({"query": "x", "filter": {"source": "2023 Q1 ACME.txt", "title": "Field notes"}})
    plan = plan_queries("Which quarter had the best sales?", "self-query", llm, searcher=searcher)
    assert plan.filters == {} and any("matches no chunk: not applied" in n for n in plan.notes)


def test_a_model_without_structured_output_is_refused_before_retrieval(searcher, monkeypatch):
    llm = fake_llm(["never asked"])
    monkeypatch.setattr(Searcher, "search_many", lambda *a, **k: pytest.fail("retrieval ran"))
    with pytest.raises(UsageError, match="held to a JSON schema.*'fake' has none.*ask.self_query: rules"):
        ask("What were Acme's net sales in Q3 2023?", searcher, llm, AskConfig(strategy="self-query", chain="extract"))
    assert llm.usage.calls == 0


def test_rules_only_needs_no_model_and_the_users_filter_wins(searcher):
    cfg = AskConfig(strategy="self-query", self_query="rules", chain="extract")
    result = ask("What were Acme's net sales in Q3 2023?", searcher, None, cfg)
    assert result.plan.filters == {"source": "2023 Q3 ACME.txt"} and "81 million" in result.answer.text
    assert {c.source for c in result.context} == {"2023 Q3 ACME.txt"}
    mine = ask("What were Acme's net sales in Q3 2023?", searcher, None, cfg, filters={"source": "2022 Q3 ACME.txt"})
    assert {c.source for c in mine.context} == {"2022 Q3 ACME.txt"}
    # what --json and the trace show is the filter that was applied, and a note says whose it is
    assert mine.to_json()["filters"] == {"source": "2022 Q3 ACME.txt"}
    assert "self-query: your --filter replaced its source=2023 Q3 ACME.txt" in mine.notes


def test_the_catalog_of_an_empty_folder_of_metadata_is_empty(tmp_path, fast_cfg):
    ingest(write_docs(tmp_path / "d", {"a.txt": "Just one file about zebras."}), tmp_path / "i", fast_cfg)
    s = Searcher(tmp_path / "i", fast_cfg)
    try:
        catalog = build_catalog(s.index.docstore)
        assert catalog.aliases == {} and rule_filters("zebras in 2023?", catalog)[0] == {}
    finally:
        s.close()


# --- the OpenAI-compatible path (a loopback stand-in) -----------------------------------------------

def test_an_openai_compatible_server_gets_a_json_schema_and_its_filter_is_applied(searcher):
    reply = {"query": "net sales", "filter": {"source": "2022 Q3 GLBX.txt"}}

    def answer(path, body):
        return 200, {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                     "choices": [{"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": json.dumps(reply)}}],
                     "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}}

    server = StandIn(answer)
    try:
        llm = build_llm(LLMConfig(kind="openai", base_url=server.root + "/v1", model="m", cache=False))
        plan = plan_queries("What were the net sales back then?", "self-query", llm, searcher=searcher)
    finally:
        server.close()
    sent = server.requests[0]["json"]["response_format"]
    assert sent["type"] == "json_schema" and "filter" in sent["json_schema"]["schema"]["properties"]
    assert plan.filters == {"source": "2022 Q3 GLBX.txt"} and plan.llm_calls == 1


# --- the command line --------------------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture
def cli_index(tmp_path):
    folder = write_docs(tmp_path / "docs", _docs())
    config = tmp_path / "sq.yaml"
    config.write_text("embedder: {kind: hash}\nsplitter: {chunk_size: 300, chunk_overlap: 30}\n"
                      "ask: {strategy: self-query, self_query: rules, chain: extract}\n")
    args = ["--index", str(tmp_path / "idx"), "--config", str(config)]
    assert runner.invoke(app, ["ingest", str(folder), *args]).exit_code == 0
    return args


def test_cli_trace_and_json_show_the_filter(cli_index):
    result = runner.invoke(app, ["ask", "What were Acme's net sales in Q3 2023?", *cli_index, "--trace"])
    assert result.exit_code == 0, result.output
    assert "self-query filter: source=2023 Q3 ACME.txt" in re.sub(r"\s+", " ", result.stderr.replace("│", " "))
    result = runner.invoke(app, ["ask", "What were Acme's net sales in Q3 2023?", *cli_index, "--json", "--trace"])
    data = json.loads(result.stdout)
    assert data["strategy"] == "self-query" and data["trace"]["plan"]["filters"] == {"source": "2023 Q3 ACME.txt"}
    assert data["filters"] == {"source": "2023 Q3 ACME.txt"}
    assert {s["source"] for s in data["sources"]} == {"2023 Q3 ACME.txt"}


def test_cli_refuses_a_model_without_a_json_schema_path_in_one_line_with_exit_2(cli_index):
    config = cli_index[-1]
    text = open(config, encoding="utf-8").read().replace("self_query: rules", "self_query: model")
    open(config, "w", encoding="utf-8").write(text)
    result = runner.invoke(app, ["ask", "What were Acme's net sales in Q3 2023?", *cli_index, "--llm", "langchain",
                                 "--model", "anthropic:claude-sonnet-4-5"])
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1, result.output
    assert "self-query needs a model whose reply can be held to a JSON schema" in result.stderr


def test_the_readme_self_query_command_runs(tmp_path):
    """The command the README's strategies section shows, on sample_docs, with the rules alone (no model here)."""
    line = next(line for line in (REPO / "README.md").read_text().splitlines()
                if "--strategy self-query" in line and line.startswith("ragkit ask"))
    config = tmp_path / "rules.yaml"
    config.write_text("embedder: {kind: hash}\nask: {self_query: rules}\n")
    args = ["--index", str(tmp_path / "idx"), "--config", str(config)]
    assert runner.invoke(app, ["ingest", str(REPO / "sample_docs"), *args]).exit_code == 0
    result = runner.invoke(app, [*shlex.split(line)[1:], *args, "--json", "--trace"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["trace"]["plan"]["filters"] == {"source": "field-notes.pdf"}
    assert {s["source"] for s in data["sources"]} == {"field-notes.pdf"}


# --- the real local model -----------------------------------------------------------------------------

@pytest.mark.integration
@pytest.mark.skipif(not have_local_model(), reason="local model packages not installed")
def test_the_real_smollm2_gives_valid_json_or_a_clean_fallback(searcher, tmp_path):
    llm = build_llm(LLMConfig(kind="local"), cache_dir=tmp_path)
    for question in ("What were Globex's net sales?", "Which quarter had the best sales?"):
        plan = plan_queries(question, "self-query", llm, searcher=searcher)
        assert plan.llm_calls == 1 and plan.queries[0] == question
        try:
            json.loads(plan.raw[0])
        except ValueError:
            assert any("not JSON" in n for n in plan.notes)
        catalog = index_catalog(searcher)
        assert all(key in catalog.fields for key in plan.filters)
        assert plan.notes[-1].startswith(("self-query filter:", "self-query: no usable filter"))


def test_a_search_text_not_made_of_the_questions_words_is_not_used(searcher):
    llm, _ = held_model({"query": "2019 Q3 tides", "filter": {}})
    plan = plan_queries("Which quarter had the best sales?", "self-query", llm, searcher=searcher)
    assert plan.queries == ["Which quarter had the best sales?"] and any("not used" in n for n in plan.notes)


def test_a_raw_newline_inside_a_string_still_parses():
    """llama.cpp's grammar lets a raw newline into a JSON string (seen with SmolLM2 on the docugami set)."""
    from ragkit.retrieval.self_query import parse_reply

    assert parse_reply('{ "query" : "net\nsales", "filter": {"source": "a.pdf"}}') == ("net\nsales", {"source": "a.pdf"}, None)


def test_names_in_other_spellings_still_get_a_pattern_that_matches_them():
    from ragkit.retrieval.self_query import source_glob

    sources = ("acme_2023_q3.txt", "acme_2023_q1.txt", "globex_2023_q3.txt", "ACME 2022 Q3.txt")
    pattern, matched = source_glob({"acme_2023_q3.txt", "globex_2023_q3.txt"}, sources)
    assert pattern == "*q3*" and matched == {"acme_2023_q3.txt", "globex_2023_q3.txt"}
    assert source_glob({"ACME 2022 Q3.txt", "acme_2023_q3.txt"}, sources) == (None, set(sources))


def test_a_capitalised_word_no_file_name_holds_is_no_ticker(catalog):
    assert rule_filters("What does the PDF say about ACME in 2023?", catalog)[1] == [
        "rules: source=*2023*ACME* (year 2023; ticker ACME)"]
