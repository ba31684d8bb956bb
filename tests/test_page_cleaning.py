"""Tests for ragkit.ingest.page_cleaning: running headers and footers, page numbers, ids and line numbers go; text stays."""

from __future__ import annotations

from fpdf import FPDF

from ragkit.config import LoaderLimits
from ragkit.ingest.loaders import load_file
from ragkit.ingest.page_cleaning import clean_pages, running_lines, strip_line_numbers
from ragkit.ingest.scan import scan_folder

BODY = ["The agency will digitize 500 million pages by FY 2026.",
        "Net sales rose 8 % to $15,758 million in Greater China.",
        "Toxicology was not performed on the pilot.",
        "The ceiling was broken at 9,000 feet."]


def report(n_pages: int = 4) -> list[tuple[int, str]]:
    """A document whose pages share a header, a numbered footer and an exporter's id."""
    return [(i, f"General Services Administration\nPage {i}\nStrategic Plan\n"
                f"_4ef1c994-cf53-4e47-af79-52d26e19f5a{i}\n{BODY[(i - 1) % len(BODY)]}\n"
                f"Apple Inc. | Q3 2023 Form 10-Q | {i}")
            for i in range(1, n_pages + 1)]


def test_running_headers_footers_page_numbers_and_ids_go_and_are_kept_as_metadata():
    cleaned = clean_pages(report())
    assert [n for n, _ in cleaned] == [1, 2, 3, 4]
    for (n, page), body in zip(cleaned, BODY):
        assert page.text == body
        assert page.page_label == f"Page {n}"
        assert page.furniture == ["General Services Administration", "Strategic Plan",
                                  f"Apple Inc. | Q3 2023 Form 10-Q | {n}"]
        assert page.removed_ids == 1


def test_a_line_repeated_on_few_pages_or_inside_the_page_stays():
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa".split()
    pages = [(i, f"Intro {words[i - 1]}\n" + "\n".join(f"{w} {words[i - 1]}" for w in words[:5]) + "\nTotal net sales\n"
                 + "\n".join(f"{w} {words[i - 1]}" for w in words[5:]) + "\nend") for i in range(1, 11)]
    pages[0] = (1, "Three Months Ended\n" + pages[0][1])
    pages[1] = (2, "Three Months Ended\n" + pages[1][1])
    running = running_lines([text for _, text in pages])
    assert "three months ended" not in running                  # 2 of 10 pages: content, not furniture
    cleaned = dict(clean_pages(pages))
    assert "Three Months Ended" in cleaned[1].text
    assert "Total net sales" in cleaned[5].text and "delta epsilon" in cleaned[5].text  # only edges, 10 of 10: "end" goes
    assert cleaned[5].furniture == ["end"]


def test_two_page_documents_keep_their_repeated_lines_and_lone_numbers_at_edges_go():
    cleaned = clean_pages([(1, "Title\nfirst page text\n1"), (2, "Title\nsecond page text\n- 2 -")])
    assert [p.text for _, p in cleaned] == ["Title\nfirst page text", "Title\nsecond page text"]
    assert [p.page_label for _, p in cleaned] == ["1", "- 2 -"]


def test_a_page_left_empty_is_dropped():
    pages = [(i, f"Header\n{i}") for i in range(1, 5)] + [(5, "Header\nreal text here\n5")]
    assert [(n, p.text) for n, p in clean_pages(pages)] == [(5, "real text here")]


def test_draft_line_numbers_are_stripped_but_years_in_sentences_are_not():
    lines = ["In recent years, multimodal learning has grown6", "thanks to their versatility and7",
             "interpretability as latent variable models8", "settings, such as medical applications9",
             "see Kingma and Welling (2014) for more10", "as shown in 2019"]
    assert strip_line_numbers(lines) == ["In recent years, multimodal learning has grown",
                                         "thanks to their versatility and", "interpretability as latent variable models",
                                         "settings, such as medical applications", "see Kingma and Welling (2014) for more",
                                         "as shown in 2019"]
    prose = ["Revenue was up in 2022", "and down in 2023", "a plain line", "another one", "the end 7"]
    assert strip_line_numbers(prose) == prose


def _pdf(path, pages: list[list[str]]) -> None:
    doc = FPDF()
    doc.set_font("Helvetica", size=11)
    for lines in pages:
        doc.add_page()
        for line in lines:
            doc.cell(text=line, new_x="LMARGIN", new_y="NEXT")
    doc.output(str(path))


def test_the_pdf_loader_cleans_pages_by_default_and_not_when_told(tmp_path):
    _pdf(tmp_path / "plan.pdf", [["Agency Strategic Plan", body, f"Page {i} of 4"] for i, body in enumerate(BODY, 1)])
    source = scan_folder(tmp_path).files[0]
    docs = load_file(tmp_path, source, LoaderLimits(workers=0))
    assert [d.page_content for d in docs] == BODY
    assert docs[2].metadata["running_header"] == "Agency Strategic Plan"
    assert docs[2].metadata["page_label"] == "Page 3 of 4"
    raw = load_file(tmp_path, source, LoaderLimits(workers=0, pdf_clean_pages=False))
    assert raw[2].page_content.startswith("Agency Strategic Plan") and "running_header" not in raw[2].metadata
