"""The grounded-answers question set (issue 9): answerable questions with a short expected string,
file and page, and unanswerable ones, over the docugami 10-Q filings and the four pdfs/ files.

    python benchmarks/grounded/questions.py [--check DIR_OF_PAGE_TEXTS]

writes ``docugami-{cal,test}.jsonl`` and ``pdfs-{cal,test}.jsonl`` next to this file (every
other question of each kind goes to the calibration split, the rest to the held-out test split).
``--check`` verifies each expected string against the page text (one ``<stem>.txt`` per PDF with
``=====PAGE n=====`` separators) and that no unanswerable question's key term is in any file.
Written by hand from the documents; each unanswerable question carries the term that makes it so.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (id, question, [answers], source, page)
DOCUGAMI = [
    ("d01", "How many shares of its common stock did Apple repurchase during the nine months ended July 1, 2023?", ["365 million"], "2023 Q3 AAPL.pdf", 14),
    ("d02", "How much did Apple pay in dividends and dividend equivalents during the third quarter of 2023?", ["$3.8 billion"], "2023 Q3 AAPL.pdf", 18),
    ("d03", "What were Apple's total net sales for the three months ended July 1, 2023?", ["81,797"], "2023 Q3 AAPL.pdf", 4),
    ("d04", "What were Apple's diluted earnings per share for the three months ended July 1, 2023?", ["1.26"], "2023 Q3 AAPL.pdf", 4),
    ("d05", "How much revenue did Apple recognize in the three months ended July 1, 2023 that was included in deferred revenue as of April 1, 2023?", ["$3.3 billion"], "2023 Q3 AAPL.pdf", 10),
    ("d06", "What were Apple's Greater China net sales in the third quarter of 2023?", ["15,758"], "2023 Q3 AAPL.pdf", 18),
    ("d07", "How many shares of NVIDIA common stock were outstanding as of August 18, 2023?", ["2.47 billion"], "2023 Q2 NVDA.pdf", 1),
    ("d08", "By how much did NVIDIA's Board of Directors increase the share repurchase program on August 21, 2023?", ["$25.00 billion", "25 billion"], "2023 Q2 NVDA.pdf", 21),
    ("d09", "How much aggregate unearned stock-based compensation expense did NVIDIA have as of July 30, 2023?", ["$9.69 billion"], "2023 Q2 NVDA.pdf", 11),
    ("d10", "What were NVIDIA's outstanding inventory purchase and long-term supply and capacity obligations as of July 30, 2023?", ["$11.15 billion"], "2023 Q2 NVDA.pdf", 19),
    ("d11", "What was NVIDIA's Professional Visualization revenue for the second quarter of fiscal year 2024?", ["$379 million"], "2023 Q2 NVDA.pdf", 28),
    ("d12", "How much cash, cash equivalents and marketable securities did NVIDIA have as of July 30, 2023?", ["$16.02 billion"], "2023 Q2 NVDA.pdf", 32),
    ("d13", "What acquisition termination cost did NVIDIA record for the Arm transaction in fiscal year 2023?", ["$1.35 billion"], "2023 Q2 NVDA.pdf", 30),
    ("d14", "What was Intel's total revenue in the third quarter of 2022?", ["$15.3 billion"], "2022 Q3 INTC.pdf", 4),
    ("d15", "How much cash did Intel receive for the sale of its remaining share of McAfee?", ["$4.6 billion"], "2022 Q3 INTC.pdf", 14),
    ("d16", "For how much cash did Intel agree to divest its NAND memory business to SK hynix?", ["$9.0 billion"], "2022 Q3 INTC.pdf", 15),
    ("d17", "What was Intel's notebook revenue in Q3 2022?", ["$4.4 billion"], "2022 Q3 INTC.pdf", 26),
    ("d18", "How much does Intel expect Arizona Fab to spend on expanded manufacturing infrastructure at its Ocotillo campus?", ["$30.0 billion"], "2022 Q3 INTC.pdf", 21),
    ("d19", "What fine did the European Commission impose on Intel?", ["€1.1 billion", "$1.4 billion"], "2022 Q3 INTC.pdf", 21),
    ("d20", "How much of Microsoft's $60.0 billion share repurchase program remained as of December 31, 2022?", ["$31.5 billion"], "2023 Q1 MSFT.pdf", 24),
    ("d21", "By what percentage did Microsoft's Windows OEM revenue decrease in the quarter ended December 31, 2022?", ["39%"], "2023 Q1 MSFT.pdf", 31),
    ("d22", "What was Microsoft's long-term unsecured debt rating as of December 31, 2022?", ["AAA"], "2023 Q1 MSFT.pdf", 15),
    ("d23", "By how much did Microsoft's general and administrative expenses increase in the quarter ended December 31, 2022?", ["$953 million"], "2023 Q1 MSFT.pdf", 35),
    ("d24", "By how much is the change in the estimated useful lives of servers expected to increase Microsoft's fiscal year 2023 operating income?", ["$3.7 billion"], "2023 Q1 MSFT.pdf", 33),
    ("d25", "How much cash consideration did Amazon pay to acquire One Medical?", ["$3.5 billion"], "2023 Q3 AMZN.pdf", 10),
    ("d26", "How large was the convertible note from Anthropic that Amazon invested in during September 2023?", ["$1.25 billion"], "2023 Q3 AMZN.pdf", 11),
    ("d27", "How much remained under Amazon's stock repurchase program as of September 30, 2023?", ["$6.1 billion"], "2023 Q3 AMZN.pdf", 16),
    ("d28", "How large is Amazon's secured revolving credit facility that is secured by seller receivables?", ["$1.5 billion"], "2023 Q3 AMZN.pdf", 15),
    ("d29", "How much did Amazon's Board of Directors authorize for the stock repurchase program in March 2022?", ["$10.0 billion"], "2023 Q3 AMZN.pdf", 16),
    ("d30", "What was the estimated fair value of Amazon's Notes as of September 30, 2023?", ["$61.4 billion"], "2023 Q3 AMZN.pdf", 15),
    # unanswerable: (id, question, [], key term absent from every file, None)
    ("du01", "What was Tesla's automotive revenue in the third quarter of 2023?", [], "Tesla", None),
    ("du02", "How many Starbucks stores did the company open in fiscal 2023?", [], "Starbucks", None),
    ("du03", "What was Netflix's paid subscriber count at the end of 2022?", [], "Netflix", None),
    ("du04", "How much did Meta spend on its Reality Labs segment in 2023?", [], "Reality Labs", None),
    ("du05", "What was Samsung's memory chip revenue in 2022?", [], "Samsung", None),
    ("du06", "What was Apple's net income in fiscal year 1979?", [], "1979", None),
    ("du07", "What was Intel's revenue in the third quarter of 2012?", [], "Q3 2012", None),
    ("du08", "How many Kindle e-readers did Amazon ship during the third quarter of 2023?", [], "Kindle", None),
    ("du09", "How much revenue did NVIDIA earn from Nintendo Switch chips in fiscal year 2024?", [], "Nintendo", None),
    ("du10", "How much did Microsoft pay for LinkedIn Premium advertising in 2022?", [], "LinkedIn Premium", None),
    ("du11", "What was Amazon's Prime Video subscriber count as of September 30, 2023?", [], "Prime Video subscriber", None),
    ("du12", "How many iPhone units did Apple sell during the third quarter of 2023?", [], "iPhone units", None),
    ("du13", "What was the Pentagon's total IT budget in 2023?", [], "Pentagon", None),
    ("du14", "How many Whole Foods stores did Amazon open in Brazil?", [], "Brazil", None),
    ("du15", "Who won the Super Bowl in 2023?", [], "Super Bowl", None),
    ("du16", "What was Salesforce's subscription revenue in its fiscal second quarter of 2023?", [], "Salesforce", None),
]

PDFS = [
    ("p01", "How old was the pilot in the Tallahassee accident?", ["85"], "ntsb-20071229X02007.pdf", 1),
    ("p02", "What did the NTSB determine to be the probable cause of the Tallahassee Piper PA-22-150 accident?", ["misjudged clearance over obstacles"], "ntsb-20071229X02007.pdf", 1),
    ("p03", "How long was the turf strip the pilot was trying to land on?", ["1,500-foot-long", "1500 ft"], "ntsb-20071229X02007.pdf", 1),
    ("p04", "What total flight experience did the pilot report?", ["2,319 hours", "2319 hours"], "ntsb-20071229X02007.pdf", 1),
    ("p05", "Who was the investigator in charge of the Tallahassee accident?", ["Robert J Gretz"], "ntsb-20071229X02007.pdf", 3),
    ("p06", "What was the altimeter setting near the accident site?", ["30.27 inches"], "ntsb-20071229X02007.pdf", 3),
    ("p07", "In which year was the National Archives and Records Administration created?", ["1934"], "NARA2022.pdf", 3),
    ("p08", "How many pages of records will NARA digitize and make available online by FY 2026?", ["500 million"], "NARA2022.pdf", 5),
    ("p09", "How much new, unprocessed archival records in traditional formats does NARA typically receive each year?", ["100,000 cubic feet"], "NARA2022.pdf", 4),
    ("p10", "How many pages of documents, photographs and films does NARA hold?", ["13 billion"], "NARA2022.pdf", 5),
    ("p11", "To at least how many instances of problematic terms in the Catalog will NARA apply reparative description each year?", ["1,000"], "NARA2022.pdf", 6),
    ("p12", "What share of customer requests should be ready within the promised time by FY 2026 at NARA?", ["95 percent"], "NARA2022.pdf", 6),
    ("p13", "What share of GSA leases expire in the next five years?", ["60 percent"], "GSA2022.pdf", 6),
    ("p14", "How much did the ARP provide to the Technology Modernization Fund?", ["$1 billion"], "GSA2022.pdf", 33),
    ("p15", "How much is the annual Federal spending on mission-support services?", ["$25 billion"], "GSA2022.pdf", 35),
    ("p16", "By when should GSA reach 100% carbon pollution-free electricity?", ["2030"], "GSA2022.pdf", 8),
    ("p17", "How many products and services are offered to GSA's customers whose data management GSA wants to streamline?", ["50 million"], "GSA2022.pdf", 19),
    ("p18", "How many Federal employees does GSA's real estate portfolio house?", ["1 million"], "GSA2022.pdf", 5),
    ("p19", "Under which license do the MultiVae authors release their work?", ["Creative Commons Attribution 4.0", "CC BY 4.0"], "multivae-joss-draft.pdf", 1),
    ("p20", "With which university is the MultiVae paper's corresponding author affiliated?", ["Université Paris Cité"], "multivae-joss-draft.pdf", 1),
    ("pu01", "How many passengers died in the Boeing 737 crash investigated by the NTSB?", [], "Boeing", None),
    ("pu02", "When was the Library of Congress founded?", [], "Library of Congress", None),
    ("pu03", "How many GSA employees work in the Denver regional office?", [], "Denver", None),
    ("pu04", "What accuracy does MultiVae reach on the ImageNet data set?", [], "ImageNet", None),
    ("pu05", "When will GSA finish renovating the Pentagon?", [], "Pentagon", None),
    ("pu06", "How many museums does the Smithsonian Institution operate?", [], "Smithsonian", None),
    ("pu07", "What was the pilot's blood alcohol level in the Tallahassee accident?", [], "blood alcohol", None),
    ("pu08", "What is the population of Kenya?", [], "Kenya", None),
    ("pu09", "Which transformer model does MultiVae use as its text encoder?", [], "transformer", None),
    ("pu10", "How many veterans' disability claims did NARA process in FY 2021?", [], "disability claims", None),
]


def rows(items: list[tuple]) -> list[dict]:
    """Question records in the ``ragkit eval`` QA form (unanswerable: no answers, no source)."""
    out = []
    for qid, question, answers, source, page in items:
        if answers:
            out.append({"id": qid, "question": question, "answers": answers, "source": source, "page": page})
        else:
            out.append({"id": qid, "question": question, "answers": [], "source": None, "page": None,
                        "absent": source})
    return out


def split(records: list[dict]) -> tuple[list[dict], list[dict]]:
    """Every other answerable and every other unanswerable question to calibration, the rest to test."""
    cal, test = [], []
    for kind in (True, False):
        group = [r for r in records if bool(r["answers"]) is kind]
        cal += group[0::2]
        test += group[1::2]
    return cal, test


def check(records: list[dict], texts: Path) -> list[str]:
    """Problems: an expected string not on its page, or an 'absent' term found in some file."""
    from ragkit.evaluation.metrics import normalize_answer

    pages: dict[tuple[str, int], str] = {}
    whole = ""
    for path in texts.glob("*.txt"):
        text = path.read_text(encoding="utf-8")
        whole += text.lower()
        for chunk in text.split("=====PAGE ")[1:]:
            number, _, body = chunk.partition("=====")
            pages[(path.stem, int(number))] = " " + normalize_answer(body) + " "
    problems = []
    for r in records:
        if r["answers"]:
            page = pages.get((Path(r["source"]).stem, r["page"]), "")
            if not any(f" {normalize_answer(a)} " in page for a in r["answers"]):
                problems.append(f"{r['id']}: none of {r['answers']} on {r['source']} page {r['page']}")
        elif r["absent"].lower() in whole:
            problems.append(f"{r['id']}: {r['absent']!r} occurs in the documents")
    return problems


def main(argv: list[str]) -> int:
    """Write the four files; with ``--check DIR`` verify them against page texts first."""
    sets = {"docugami": rows(DOCUGAMI), "pdfs": rows(PDFS)}
    if "--check" in argv:
        texts = Path(argv[argv.index("--check") + 1])
        problems = [p for records in sets.values() for p in check(records, texts)]
        print("\n".join(problems) or "all expected strings found on their pages; no absent term found")
        if problems:
            return 1
    for name, records in sets.items():
        for part, items in zip(("cal", "test"), split(records)):
            with open(HERE / f"{name}-{part}.jsonl", "w", encoding="utf-8") as handle:
                handle.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in items)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
