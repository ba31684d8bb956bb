"""The index on disk: generations of a docstore, a dense and a sparse index, and a manifest.

``generations`` (CURRENT, the writer lock, durable writes, new/publish/garbage-collect),
``manifest`` (format version, recorded settings, embedder check), ``backends`` (the dense and
sparse interfaces and their registries), ``docstore``/``dense``/``sparse`` (the three indexes),
``writer`` (writing a new generation), ``index`` (opening the live one), ``info`` (statistics).

The store knows nothing of ingest, retrieval or embedders: it imports only config, errors,
text and paths. This file imports nothing.
"""
