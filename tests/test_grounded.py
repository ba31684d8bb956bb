"""The extract chain's refusal and quotes: support decision, quotable pieces, ranking by what answers."""

from __future__ import annotations

import dataclasses

from ragkit.generation.answer import number_sources
from ragkit.generation.chains import answer_question
from ragkit.generation.citations import NO_ANSWER
from ragkit.generation.extract import WINDOW_SHARE, answer_ranks, extract_answer
from ragkit.generation.refusal import assess_support, locator_terms, named_terms, question_terms
from ragkit.generation.sentences import Piece, is_heading, is_table_row, quotable_pieces
from ragkit.retrieval.pipeline import Hit


def chunk(n: int, text: str, source: str = "report.pdf", page: int | None = 1) -> Hit:
    return Hit(rank=n, score=1.0 / n, chunk_id=f"c{n}", doc_id=f"d{n}", source=source, page=page,
                        text=text, metadata={})


FILING = chunk(1, """CONDENSED CONSOLIDATED STATEMENTS OF OPERATIONS (Unaudited)
Three Months Ended Nine Months Ended
July 1,
2023
June 25,
2022
Net sales:
   Products $ 60,584 $ 63,355 $ 230,901 $ 245,241
Total net sales 81,797 82,959 293,787 304,182
Share Repurchase Program
During the nine months ended July 1, 2023, the Company repurchased 365 million shares of its common stock
for $56.1 billion. The Company paid dividends of $3.8 billion during the third quarter of 2023.""")
GUIDE = chunk(2, """Hybrid retrieval with reciprocal rank fusion

Reciprocal rank fusion scores a document by summing 1 / (k + rank) over the rankings that hold it.
Apple Inc. reported results. No. 3 in the list is fusion.""", source="guide.md", page=None)


def test_pieces_are_sentences_and_table_rows_with_their_period_never_a_heading():
    pieces = quotable_pieces(FILING.text)
    texts = [p.text for p in pieces]
    assert "Share Repurchase Program" not in " ".join(texts)           # a heading is never a piece
    row = next(p for p in pieces if p.text.startswith("Total net sales"))
    assert row.row and row.period == "Three Months Ended Nine Months Ended July 1, 2023 June 25, 2022"
    assert texts[-2].startswith("During the nine months") and texts[-2].endswith("for $56.1 billion.")
    assert texts[-1] == "The Company paid dividends of $3.8 billion during the third quarter of 2023."


def test_heading_and_row_shapes():
    assert is_heading("Hybrid retrieval with reciprocal rank fusion") and is_heading("Contents ........ 3")
    assert not is_heading("Location: Tallahassee, FL") and not is_heading("Cats sleep all day.")
    assert is_table_row("Total net sales 81,797 82,959 293,787 304,182")
    assert not is_table_row("In 2022 the pilot, age 85, was attempting to land at his private airstrip near the town.")


def test_no_sentence_break_after_an_abbreviation_before_a_number():
    assert [p.text for p in quotable_pieces(GUIDE.text)][-1] == "No. 3 in the list is fusion."


def test_question_terms_leave_out_question_words_and_named_terms_are_names_and_numbers():
    assert question_terms("How much did Apple pay in dividends?") == ["appl", "pay", "dividend"]
    assert question_terms("What does the abbreviation HyDE stand for?") == ["hyde"]   # the rest is the question's form
    assert named_terms("What was Tesla's revenue in the third quarter of 2023?") == ["tesla", "2023"]
    assert named_terms("Which university is it?") == []                  # the first word is not a name


def test_support_refuses_a_question_about_something_the_sources_never_name():
    sources = number_sources([FILING])
    tesla = assess_support("What was Tesla's total net sales in the third quarter of 2023?", sources)
    apple = assess_support("How much did the Company pay in dividends during the third quarter of 2023?", sources)
    assert tesla.missing == ("tesla",) and not tesla.answerable
    assert apple.missing == () and apple.answerable and apple.score > tesla.score


def test_extract_puts_the_answering_sentence_first_and_keeps_the_figure_with_its_unit():
    answer = extract_answer("How much did the Company pay in dividends during the third quarter of 2023?", [FILING, GUIDE])
    first = answer.text.splitlines()[0]
    assert first == '"The Company paid dividends of $3.8 billion during the third quarter of 2023." [1]'
    assert answer.citations[0] == 1 and not answer.refused


def test_extract_quotes_a_table_row_with_its_period():
    answer = extract_answer("What were the total net sales?", [FILING])
    assert answer.text.splitlines()[0] == ('"Total net sales 81,797 82,959 293,787 304,182" (Three Months Ended Nine '
                                           'Months Ended July 1, 2023 June 25, 2022) [1]')


def test_a_refusal_lists_no_sources_and_says_why():
    answer = answer_question("Who won the Super Bowl in 2019?", [FILING, GUIDE], chain="extract")
    assert answer.refused and answer.text == NO_ANSWER and answer.citations == [] and answer.sources == []
    assert "super" in answer.notes[0] and "2019" in answer.notes[0]


def test_every_citation_points_at_a_listed_source():
    answer = extract_answer("How does reciprocal rank fusion score a document?", [FILING, GUIDE])
    assert answer.citations and all(n in {s.n for s in answer.sources} for n in answer.citations)
    assert answer.text.splitlines()[0].startswith('"Reciprocal rank fusion scores a document')


def test_refusal_rates_split_by_answerable_and_absent_when_there_is_nothing_to_count():
    from ragkit.evaluation.datasets import Dataset, QAItem
    from ragkit.evaluation.runner import compute_metrics

    items = {"a1": QAItem("a1", "Q?", ("x",)), "a2": QAItem("a2", "Q?", ("y",)),
             "u1": QAItem("u1", "Q?", ()), "u2": QAItem("u2", "Q?", ()), "u3": QAItem("u3", "Q?", ())}
    dataset = Dataset(name="d", kind="qa", queries=[(q, "Q?") for q in items], items=items)
    refused = {"a1": False, "a2": True, "u1": True, "u2": True, "u3": False}
    records = {q: {"answer": "x", "refused": r, "citations": [], "n_sources": 0} for q, r in refused.items()}
    names = ["unanswerable_refused", "answerable_refused", "refusal_accuracy"]
    metrics = compute_metrics(dataset, records, names)
    assert metrics["unanswerable_refused"] == round(2 / 3, 6) and metrics["answerable_refused"] == 0.5
    assert metrics["refusal_accuracy"] == 0.6
    only_answerable = Dataset(name="d", kind="qa", queries=[("a1", "Q?")], items={"a1": items["a1"]})
    assert "unanswerable_refused" not in compute_metrics(only_answerable, {"a1": records["a1"]}, names)


def test_the_shipped_question_set_halves_are_disjoint_and_load_as_qa_sets(tmp_path):
    import json

    from ragkit.evaluation.datasets import load_qa

    from conftest import REPO

    for name in ("docugami", "pdfs"):
        halves = {part: [json.loads(line) for line in (REPO / "benchmarks" / "grounded" / f"{name}-{part}.jsonl")
                         .read_text(encoding="utf-8").splitlines()] for part in ("cal", "test")}
        ids = [{r["id"] for r in rows} for rows in halves.values()]
        assert not ids[0] & ids[1]
        for rows in halves.values():
            assert any(r["answers"] for r in rows) and any(not r["answers"] for r in rows)
            assert all(r["source"] and r["page"] for r in rows if r["answers"])
        dataset = load_qa(name, tmp_path, REPO / "benchmarks" / "grounded" / f"{name}-test.jsonl")
        assert len(dataset.items) == len(halves["test"])


def test_a_model_chain_that_checks_support_refuses_without_calling_the_model():
    from fakes import fake_llm

    llm = fake_llm(["Tesla earned $9 billion [1]."])
    answer = answer_question("What was Tesla's revenue in 2019?", [FILING, GUIDE], "stuff", llm, check_support=True)
    assert answer.refused and answer.text == NO_ANSWER and answer.sources == [] and answer.citations == []
    assert answer.chain == "stuff" and llm.usage.calls == 0


def test_a_supported_question_still_goes_to_the_model_and_without_the_check_nothing_is_refused_early():
    from fakes import fake_llm

    supported = fake_llm(["The Company paid dividends of $3.8 billion [1]."])
    answer = answer_question("How much did the Company pay in dividends?", [FILING], "stuff", supported,
                             check_support=True)
    assert not answer.refused and supported.usage.calls == 1
    unchecked = fake_llm(["Tesla earned $9 billion [1]."])
    answer_question("What was Tesla's revenue in 2019?", [FILING, GUIDE], "stuff", unchecked)
    assert unchecked.usage.calls == 1


def test_a_model_refusal_of_supported_sources_falls_back_to_quotes_only_when_the_check_ran():
    from fakes import fake_llm

    question = "How much did the Company pay in dividends?"
    refusing = fake_llm(["The provided documents do not contain the answer."])
    answer = answer_question(question, [FILING], "stuff", refusing, check_support=True)
    assert not answer.refused and answer.chain == "extract" and "$3.8 billion" in answer.text
    assert answer.llm_calls == 1 and "the model refused" in answer.notes[-1]
    unchecked = answer_question(question, [FILING], "stuff", fake_llm(["The provided documents do not contain "
                                                                          "the answer."]))
    assert unchecked.refused and unchecked.chain == "stuff"


def test_ask_refuse_auto_checks_support_for_a_model_that_does_not_follow_instructions_only():
    from ragkit.config import checks_support

    assert checks_support("auto", False) and not checks_support("auto", True)
    assert checks_support("always", True) and not checks_support("never", False)


def test_support_reads_a_sentence_with_both_its_neighbours():
    spread = chunk(1, "BM25 has a length normalisation parameter called b. Its usual default is 0.75. "
                      "That value suits most English text.", source="notes.md", page=None)
    support = assess_support("What is the usual default value of BM25's length normalisation parameter b?",
                             number_sources([spread]))
    assert support.coverage == 1.0 and support.answerable


def test_extract_prefers_a_percentage_when_the_question_asks_for_one():
    text = ("Windows OEM revenue decreased $2.9 billion driven by lower demand.\n"
            "Windows OEM revenue decreased 39% driven by lower demand.")
    answer = extract_answer("By what percentage did Windows OEM revenue decrease?", [chunk(1, text)])
    assert answer.text.splitlines()[0] == '"Windows OEM revenue decreased 39% driven by lower demand." [1]'


def test_extract_damps_a_figure_for_another_year_than_the_one_asked_about():
    older = chunk(1, "Notebook revenue was $4.1 billion for the notebook segment in 2021 and 2022.", source="2022 Q3.pdf")
    # The asked year is only in the file's name: a filing's own period is implicit in its sentences.
    asked = chunk(2, "Notebook revenue was $4.4 billion, down from the prior year.", source="2023 Q3.pdf")
    answer = extract_answer("What was notebook revenue in 2023?", [older, asked])
    assert answer.text.splitlines()[0] == '"Notebook revenue was $4.4 billion, down from the prior year." [2]'


def test_table_rows_under_a_label_line_keep_the_label_until_a_total_closes_the_group():
    pieces = quotable_pieces(FILING.text + """
Earnings per share:
Basic $ 1.27 $ 1.20 $ 3.72 $ 4.86
Diluted $ 1.26 $ 1.20 $ 3.69 $ 4.82""")
    rows = [p.text for p in pieces if p.row]
    assert rows[0].startswith("Net sales: Products $ 60,584") and rows[1].startswith("Total net sales 81,797")
    assert rows[-1] == "Earnings per share: Diluted $ 1.26 $ 1.20 $ 3.69 $ 4.82"
    assert "Earnings per share:" not in [p.text for p in pieces if not p.row]   # the label is not a piece of its own
    table = "Earnings per share:\nBasic $ 1.27 $ 1.20 $ 3.72 $ 4.86\nDiluted $ 1.26 $ 1.20 $ 3.69 $ 4.82"
    answer = extract_answer("What were diluted earnings per share?", [chunk(1, table)])
    assert answer.text.splitlines()[0].startswith('"Earnings per share: Diluted $ 1.26')


def test_support_counts_the_file_name_as_what_the_question_may_call_the_source():
    notes = chunk(1, "Add a small overlap between neighbouring chunks, for example 20 to 40 words.", source="field-notes.pdf")
    with_name = assess_support("How much overlap between chunks do the field notes suggest?", number_sources([notes]))
    renamed = dataclasses.replace(notes, source="misc.pdf")
    without = assess_support("How much overlap between chunks do the field notes suggest?", number_sources([renamed]))
    assert with_name.coverage > without.coverage and with_name.answerable


def test_locator_phrases_say_where_to_look_and_weigh_less_in_the_answer():
    assert locator_terms("What was the gross margin for Apple in the latest 10-Q report?") == ["latest", "10", "report"]
    assert locator_terms("What was NVIDIA's operating cash flow as revealed in the Q3 2022 10-Q?") == ["reveal", "q3", "2022", "10"]
    assert locator_terms("What was Intel's R&D expenditure in Q1 2023?") == []   # a period, not a document
    certificate = chunk(1, "This latest Quarterly Report of Apple Inc. on Form 10-Q fully complies with the Act.",
                        source="2023 Q3 AAPL.pdf")
    margin = chunk(2, "Gross margin was 36,413 for the quarter.", source="2023 Q3 AAPL.pdf")
    answer = extract_answer("What was the gross margin for Apple in the latest 10-Q report?", [certificate, margin])
    assert answer.text.splitlines()[0] == '"Gross margin was 36,413 for the quarter." [2]'


def test_a_table_row_does_not_borrow_the_terms_of_the_sentences_above_it():
    question = "What was net cash flow?"
    pieces = [Piece("The statement of cash flows follows."), Piece("Net income 79,082 74,129", row=True)]
    ranks = answer_ranks(question, question_terms(question), pieces, [1, 1])
    assert 0 < ranks[1] < 0.7 * WINDOW_SHARE   # "net" alone counts, not "cash flow" from the sentence above
