"""Evaluation: ``ragkit eval`` — data sets x pipelines from a config file, metrics, reports.

``spec``/``evalfile`` (the eval config, validated, errors with file:line), ``datasets`` (BEIR and
QA sets), ``runner`` (resumable runs, one JSONL trace per query), ``metrics`` (retrieval, QA and
answer metrics, checked against ranx in the tests), ``judge`` (LLM-judged faithfulness) and
``report`` (JSON, CSV, markdown, PNG charts).
"""
