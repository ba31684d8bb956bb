"""Ingest: a folder in, a new index generation out, in named steps.

``scan`` (which files, and why others are left out) -> ``changes`` (what changed since the
live generation) -> ``loaders``/``pdf`` (files to Documents) -> ``splitters`` (Documents to
chunks) -> embed -> :mod:`ragkit.store.writer`; :mod:`ragkit.ingest.pipeline` runs the steps
and :mod:`ragkit.ingest.report` says what they did.

This file imports nothing, on purpose: PDF worker processes are spawned and import
``ragkit.ingest.pdf``, which imports this package first; importing the pipeline here would
load faiss, bm25s and the embedders into every worker.
"""
