"""Generate sample_docs/field-notes.pdf, a small multi-page PDF for ragkit.

Usage:

    python scripts/make_sample_pdf.py [OUTPUT_PATH]

OUTPUT_PATH defaults to sample_docs/field-notes.pdf in the repository root
(found from this file's location, so the script works from any directory).

The PDF has four pages, one section per page, each on a different topic, so
that tests can check a query lands on the right page number:

    page 1  Why retrieval fails         (distinctive word: "haystack")
    page 2  Choosing a chunk size       (distinctive word: "sweep")
    page 3  Reading PDFs safely         (distinctive word: "quarantine")
    page 4  Measuring before claiming   (distinctive words: "baseline",
                                         "leaderboard")

The output is deterministic: the creation date and producer are fixed, page
compression is off (so the bytes do not depend on the zlib build), and nothing
depends on the clock, the locale or random numbers. Running the script twice
with the same fpdf2 version gives byte-identical files. Only the PDF core
fonts are used, so all text must be latin-1.

Requires fpdf2 (pip install fpdf2).
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

from fpdf import FPDF

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "sample_docs" / "field-notes.pdf"

# Fixed metadata, so that the output bytes never change between runs.
CREATION_DATE = datetime(2024, 1, 1, 0, 0, 0, tzinfo=timezone.utc)
PRODUCER = "ragkit scripts/make_sample_pdf.py (fpdf2)"

# Each section is (title, [paragraphs]). One section per page.
SECTIONS: list[tuple[str, list[str]]] = [
    (
        "Why retrieval fails",
        [
            "Most wrong answers from a retrieval-augmented system are not the "
            "language model's fault. The model was never shown the passage "
            "that held the answer. Before tuning prompts, look at what the "
            "retriever returned for the questions that went wrong.",
            "The most common cause is vocabulary mismatch. The user asks about "
            "a \"refund\" while the policy document only ever says "
            "\"reimbursement\". A keyword index sees no shared words and scores "
            "the passage at zero. Dense embeddings narrow this gap but do not "
            "close it, especially for jargon, acronyms and internal product "
            "names that the embedding model never saw during training.",
            "The second cause is a needle in a haystack: the answer is one "
            "sentence buried in a long chunk about something else. The chunk's "
            "single vector describes its main topic, not the buried sentence, "
            "so the chunk ranks low even though it contains the answer.",
            "The third cause is text that never reached the index at all. A "
            "scanned page with no text layer, a table flattened into a jumble "
            "of numbers, or a file that failed to load without anyone noticing "
            "all leave silent holes in the collection.",
            "Finally, some questions need facts from two places at once. A "
            "single search returns passages about one half of the question and "
            "misses the other half. Splitting the question into parts, or "
            "searching more than once, is the usual remedy.",
            "A short habit catches most of these problems: for every failed "
            "question, write down where the answer really lives, then check "
            "whether that passage was indexed, whether it was retrieved, and "
            "at what rank.",
        ],
    ),
    (
        "Choosing a chunk size",
        [
            "Chunk size is the setting that most changes retrieval quality, "
            "and there is no single right value. It depends on the embedding "
            "model, the documents and the questions people ask.",
            "Start from the embedder's limit. A MiniLM sentence embedder reads "
            "at most 256 word pieces and silently ignores the rest, so a chunk "
            "longer than that is only partly represented by its vector. With "
            "ordinary English at roughly 1.3 word pieces per word, chunks of "
            "150 to 200 words stay safely inside the limit.",
            "Below the limit, the choice is a trade. Short chunks produce "
            "precise vectors and precise keyword matches, but each one carries "
            "little context, and a pronoun at its start may point to a name "
            "in the previous chunk. Long chunks keep context together but mix "
            "several topics into one vector.",
            "Add a small overlap between neighbouring chunks, for example 20 "
            "to 40 words, so that a sentence cut at a boundary appears whole "
            "in at least one chunk. Split on paragraph and sentence boundaries "
            "where possible rather than in the middle of a sentence.",
            "Then measure. Run a sweep over three or four chunk sizes, such as "
            "100, 150 and 200 words, rebuild the index for each, and score "
            "every variant on the same set of test questions. Keep the size "
            "that scores best on your own documents, not the one a blog post "
            "recommended for somebody else's.",
            "Record the chosen size and overlap next to the index, because an "
            "index built with one setting cannot be compared fairly with "
            "another built with a different one.",
        ],
    ),
    (
        "Reading PDFs safely",
        [
            "PDF is a rich and forgiving format, which makes it risky to parse. "
            "A single malformed or hostile file can hang a parser, exhaust "
            "memory, or raise an unexpected exception that stops a whole "
            "ingestion run. Treat every PDF as untrusted input.",
            "Set limits before opening anything. Cap the number of pages read "
            "from one file, cap the time spent on one file, and cap the memory "
            "the parser may use. Compressed streams deserve special care: a "
            "few kilobytes on disk can expand to gigabytes in memory. When a "
            "limit is hit, stop reading that file and report it, instead of "
            "letting it slow down or crash everything else.",
            "Encrypted PDFs need a decision. Some open with an empty password "
            "and can be read normally; others need a real password that an "
            "automated pipeline does not have. Report those as failed with a "
            "clear reason rather than indexing an empty document.",
            "Truncated PDFs are common: an interrupted download or copy leaves "
            "a file with no cross-reference table or end-of-file marker. Some "
            "parsers can recover the pages that are present; others fail. "
            "Either way, the user should hear about it.",
            "Put every file that fails into quarantine: keep a list of the "
            "failed paths with the reason for each, skip them on the next run "
            "unless their content changes, and show the list in the ingestion "
            "report. One bad file should never block the good ones.",
            "Finally, check the extracted text. A page that yields no text is "
            "usually a scanned image and needs optical character recognition, "
            "which is a separate step.",
        ],
    ),
    (
        "Measuring before claiming",
        [
            "Every change to a retrieval system arrives with a story about why "
            "it should help. The story is not evidence. Only a measurement on "
            "a fixed set of questions is.",
            "Pick a benchmark before making the change, and freeze it: the "
            "same documents, the same questions, the same relevance judgements "
            "and the same metric at the same cut-off, for example nDCG@10 or "
            "recall@10. Changing the test set after seeing results turns a "
            "measurement into a search for a flattering number.",
            "Always run a baseline. Report the new method side by side with a "
            "plain BM25 run and with the current system, on the same machine "
            "and the same questions. A score of 0.70 means little on its own; "
            "it means a lot next to a baseline of 0.62, and nothing next to a "
            "baseline of 0.71.",
            "Report what it cost. A method that gains one point of recall but "
            "doubles the latency, or adds a language model call to every "
            "query, may not be worth it. Give the indexing time, the query "
            "time and the index size together with the quality numbers.",
            "Be honest about noise. On a few hundred questions, a difference of "
            "one or two points can come from chance. Repeat the run, look at "
            "per-question results, and prefer changes that help many "
            "questions a little over changes that help a few questions a lot.",
            "Do not chase a public leaderboard with settings tuned on the test "
            "questions themselves. Publish the commands that produced each "
            "number so that anyone can rerun them and get the same result.",
        ],
    ),
]


def build_pdf() -> FPDF:
    """Lay out the four sections, one per page, and return the document."""
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_creation_date(CREATION_DATE)
    pdf.set_producer(PRODUCER)
    pdf.set_creator(PRODUCER)
    pdf.set_title("Field notes on retrieval")
    pdf.set_author("ragkit project")
    pdf.set_compression(False)
    pdf.set_margins(left=20, top=20, right=20)
    pdf.set_auto_page_break(auto=True, margin=20)

    for number, (title, paragraphs) in enumerate(SECTIONS, start=1):
        pdf.add_page()
        pdf.set_font("Helvetica", style="B", size=16)
        pdf.multi_cell(0, 9, f"{number}. {title}", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
        pdf.set_font("Helvetica", size=11)
        for paragraph in paragraphs:
            paragraph.encode("latin-1")  # core fonts only: fail early otherwise
            pdf.multi_cell(0, 5.5, paragraph, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
        if pdf.page_no() != number:
            raise RuntimeError(f"section {number} ({title!r}) overflowed its page")
        # Footer below the bottom margin: turn automatic breaks off while
        # writing it, or fpdf2 would start a new page.
        pdf.set_auto_page_break(auto=False)
        pdf.set_font("Helvetica", style="I", size=9)
        pdf.set_y(-15)
        pdf.cell(0, 5, f"Field notes - page {number} of {len(SECTIONS)}", align="C")
        pdf.set_auto_page_break(auto=True, margin=20)

    return pdf


def main(argv: list[str]) -> int:
    if len(argv) > 2 or (len(argv) == 2 and argv[1] in ("-h", "--help")):
        print(__doc__)
        return 0 if len(argv) == 2 else 2
    output = Path(argv[1]) if len(argv) == 2 else DEFAULT_OUTPUT
    output.parent.mkdir(parents=True, exist_ok=True)
    build_pdf().output(str(output))
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
