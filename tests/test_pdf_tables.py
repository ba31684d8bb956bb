"""Table pages of PDFs (ragkit.ingest.pdf_tables): rows keep their labels, columns their period headers, prose stays as it was."""

from __future__ import annotations

import dataclasses
import json

import pytest
from fpdf import FPDF

from ragkit.config import LoaderLimits, SplitterConfig
from ragkit.embedders import build_embedder
from ragkit.generation.answer import number_sources
from ragkit.generation.sentences import is_period_header, quotable_pieces
from ragkit.ingest.loaders import load_file, load_files
from ragkit.ingest.pdf_tables import cells, header_in_force, is_row, looks_tabular, table_page_text
from ragkit.ingest.pipeline import index_settings, ingest
from ragkit.ingest.scan import scan_folder
from ragkit.ingest.splitters import split_documents
from ragkit.retrieval.pipeline import Hit
from ragkit.store.manifest import changed_settings

PROSE = ("The Company designs smartphones, personal computers, tablets and wearables. Net sales rose in the "
         "third quarter because of higher sales of services, partially offset by lower sales of products.")
ROWS = [("Net sales:", None), ("Products", ["60,584", "63,355", "230,901", "245,241"]),
        ("Services", ["21,213", "19,604", "62,886", "58,941"]),
        ("Total net sales", ["81,797", "82,959", "293,787", "304,182"]),
        ("Gross margin", ["36,413", "35,885", "128,721", "132,687"])]
RIGHT = [110, 135, 165, 190]   # the right edge of each figure column, in mm
DATES = ["July 1, 2023", "June 25, 2022", "July 1, 2023", "June 25, 2022"]
HEADER = ("Three Months Ended July 1, 2023; Three Months Ended June 25, 2022; "
          "Nine Months Ended July 1, 2023; Nine Months Ended June 25, 2022")


def statement_pdf(path) -> None:
    """A page with a paragraph and a statement of operations whose figures are written column by column after
    the labels (as some producers do), so plain extraction lists the labels, then the figures."""
    pdf = FPDF()
    pdf.set_font("Helvetica", size=10)
    pdf.add_page()
    pdf.set_xy(10, 15)
    pdf.multi_cell(190, 5, PROSE)
    pdf.text(70, 40, "CONDENSED CONSOLIDATED STATEMENTS OF OPERATIONS")

    def right(x: float, y: float, text: str) -> None:
        pdf.text(x - pdf.get_string_width(text), y, text)

    for first, last, name in ((0, 1, "Three Months Ended"), (2, 3, "Nine Months Ended")):
        middle = (RIGHT[first] + RIGHT[last]) / 2 - 8
        pdf.text(middle - pdf.get_string_width(name) / 2, 50, name)
    for x, date in zip(RIGHT, DATES):
        right(x, 55, date)
    for i, (label, _) in enumerate(ROWS):
        pdf.text(10, 62 + 6 * i, label)
    for column, x in enumerate(RIGHT):
        for i, (_, values) in enumerate(ROWS):
            if values:
                right(x, 62 + 6 * i, values[column])
    pdf.output(str(path))


@pytest.fixture
def statement(tmp_path):
    statement_pdf(tmp_path / "statement.pdf")
    return tmp_path, scan_folder(tmp_path).files[0]


def test_a_row_keeps_its_label_and_figures_on_one_line(statement):
    root, source = statement
    text = load_file(root, source, LoaderLimits(workers=0))[0].page_content
    assert "Total net sales 81,797 82,959 293,787 304,182" in text.splitlines()
    assert "Gross margin 36,413 35,885 128,721 132,687" in text.splitlines()
    plain = load_file(root, source, LoaderLimits(workers=0, pdf_tables=False))[0].page_content
    assert "Total net sales" in plain.splitlines()   # what plain extraction gives: the label alone


def test_the_columns_period_header_is_composed_and_reaches_the_row_as_its_period(statement):
    root, source = statement
    text = load_file(root, source, LoaderLimits(workers=0))[0].page_content
    assert HEADER in text.splitlines()
    rows = {piece.text: piece for piece in quotable_pieces(text) if piece.row}
    assert rows["Total net sales 81,797 82,959 293,787 304,182"].period == HEADER
    assert rows["Net sales: Products 60,584 63,355 230,901 245,241"].period == HEADER


def test_a_chunk_cut_below_the_header_keeps_it_for_its_rows(statement):
    root, source = statement
    docs = load_file(root, source, LoaderLimits(workers=0))
    chunks = split_documents(docs, SplitterConfig(chunk_size=120, chunk_overlap=0))
    below = [c for c in chunks if "Gross margin 36,413" in c.page_content and "Ended" not in c.page_content]
    assert below and below[0].metadata["table_header"] == HEADER
    assert "table_header" not in chunks[0].metadata   # the paragraph above the table
    hit = Hit(rank=1, score=1.0, chunk_id="c", doc_id="d", source="statement.pdf", page=1,
                       text=below[0].page_content, metadata=below[0].metadata)
    [numbered] = number_sources([hit])
    rows = [piece for piece in quotable_pieces(numbered.text, numbered.header) if piece.row]
    assert rows and all(piece.period == HEADER for piece in rows)


def test_prose_on_a_table_page_comes_out_as_plain_extraction_gives_it(statement):
    root, source = statement
    text = load_file(root, source, LoaderLimits(workers=0))[0].page_content
    plain = load_file(root, source, LoaderLimits(workers=0, pdf_tables=False))[0].page_content
    assert "  " not in text and "\n\n" not in text
    assert text.splitlines()[:3] == plain.splitlines()[:3]   # the paragraph's two lines and the title
    assert " ".join(text.splitlines()[:2]) == PROSE


def test_a_page_without_tables_is_not_read_again(tmp_path, monkeypatch):
    pdf = FPDF()
    pdf.set_font("Helvetica", size=10)
    pdf.add_page()
    pdf.multi_cell(190, 5, PROSE + " It had 3 stores in 2019 and 5 in 2023.")
    pdf.output(str(tmp_path / "prose.pdf"))
    from pypdf import PageObject

    modes = []
    original = PageObject.extract_text
    monkeypatch.setattr(PageObject, "extract_text", lambda self, *a, **kw: modes.append(kw.get("extraction_mode"))
                        or original(self, *a, **kw))
    text = load_file(tmp_path, scan_folder(tmp_path).files[0], LoaderLimits(workers=0))[0].page_content
    assert modes == [None] and text.startswith("The Company designs")


def test_table_pages_are_read_in_the_spawned_workers_too(statement):
    root, source = statement
    [(_, docs)] = list(load_files(root, [source], LoaderLimits(workers=1)))
    assert "Total net sales 81,797 82,959 293,787 304,182" in docs[0].page_content.splitlines()


def test_the_index_records_table_extraction_and_rebuilds_when_it_changes_or_was_never_recorded(statement, tmp_path,
                                                                                                fast_cfg):
    root, _ = statement
    index = tmp_path / "index"
    ingest(root, index, fast_cfg)
    manifest = json.loads((index / (index / "CURRENT").read_text().split()[0] / "manifest.json").read_text())
    assert manifest["splitter"]["pdf_tables"] is True
    settings = index_settings(fast_cfg, build_embedder(fast_cfg.embedder))
    assert changed_settings(manifest, settings) == []
    del manifest["splitter"]["pdf_tables"]   # an index written before tables were extracted
    assert changed_settings(manifest, settings) == ["splitter"]
    plain = dataclasses.replace(fast_cfg, loader=dataclasses.replace(fast_cfg.loader, pdf_tables=False))
    report = ingest(root, index, plain)
    assert report.rebuilt and "splitter" in report.notes[0]


# ---------------------------------------------------------------- the text functions

LAYOUT = """\
                    CONSOLIDATED STATEMENTS OF CASH FLOWS
(In millions)
                                        Three Months Ended         Nine Months Ended
                                         September 30,               September 30,
                                       2023        2022           2023        2022
Operating activities:
Net income                       $    9,879   $   2,872   $   19,797   $  (3,000)
Acquisition of companies, net of cash acquired, and purchases of intangible and other
   assets                              (349)     (1,206)        (5,013)   (10,309)
Marketable equity securities
                                       1,100          85          1,185      2,171
"""


def test_layout_text_joins_split_labels_composes_the_header_and_collapses_padding():
    plain = "\n".join(" ".join(line.split()) for line in LAYOUT.splitlines())
    text = table_page_text(LAYOUT, plain).splitlines()
    assert text[2] == ("Three Months Ended September 30, 2023; Three Months Ended September 30, 2022; "
                       "Nine Months Ended September 30, 2023; Nine Months Ended September 30, 2022")
    assert is_period_header(text[2])
    assert "Net income $ 9,879 $ 2,872 $ 19,797 $ (3,000)" in text
    assert ("Acquisition of companies, net of cash acquired, and purchases of intangible and other assets "
            "(349) (1,206) (5,013) (10,309)") in text
    assert "Marketable equity securities 1,100 85 1,185 2,171" in text


def test_a_stub_period_names_every_year_column_and_a_closing_parenthesis_joins_its_figure():
    layout = ("Three Months Ended September 30,            2022          2021\n\n"
              "Net income                          $    17,556   $   20,505\n"
              "Deferred income taxes                   (1,191       )    (5,970  )\n")
    text = table_page_text(layout, layout).splitlines()
    assert text[0] == "Three Months Ended September 30, 2022; Three Months Ended September 30, 2021"
    assert text[2] == "Deferred income taxes (1,191 ) (5,970 )"


def test_a_header_stays_in_force_over_rows_and_labels_not_past_a_sentence_or_the_next_dated_header():
    page = f"Title\n{HEADER}\nNet sales:\nProducts 60,584 63,355\nServices 21,213 19,604\n"
    assert header_in_force(page, page.index("Services")) == HEADER
    assert header_in_force(page, page.index(HEADER)) == ""
    after = page + "Net sales rose because services grew faster than products did this year.\nOther 1,100 2,200\n"
    assert header_in_force(after, after.index("Other")) == ""
    balance = page + "September 30, 2023 June 30, 2023\nCash 1,100 2,200\n"
    assert header_in_force(balance, balance.index("Cash")) == ""


def test_cells_rows_and_what_makes_a_page_tabular():
    assert [c.text for c in cells("Revenue    $      52,747    $   51,728    2%    $ 102,869  $   97,045")] == [
        "Revenue", "$ 52,747", "$ 51,728", "2%", "$ 102,869", "$ 97,045"]
    assert is_row(cells("Gross margin      36,413     35,885"))
    assert not is_row(cells("                  2023       2022"))   # a header of years
    assert not is_row(cells("The Company designs smartphones, personal computers and tablets."))
    assert looks_tabular("Products 60,584 63,355\nServices 21,213 19,604\nTotal 81,797 82,959")
    assert looks_tabular("Net sales:\nProducts\nServices\n60,584\n21,213\n81,797")   # figures apart from labels
    assert not looks_tabular("It had 3 stores in 2019 and 5 in 2023.\nPage 4 of 12\n2023")


def test_two_prose_columns_side_by_side_or_lost_text_keep_the_plain_text():
    left = ["In recent years multimodal learning has grown", "thanks to versatility and scalability of models"]
    right = ["Authors of papers retain copyright and release", "the work under a Creative Commons licence"]
    layout = "\n".join(f"{a:<60}{b}" for a, b in zip(left, right)) + "\nTotal 1,100 2,200\n"
    plain = "\n".join(left + right) + "\nTotal 1,100 2,200"
    assert table_page_text(layout, plain) is None
    assert table_page_text("Total 1,100 2,200\n", plain) is None   # most of the page is missing from layout mode
