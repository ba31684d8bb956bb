"""The index on disk: generations of a docstore, a dense and a sparse index, and a manifest.

``generations`` (CURRENT, the writer lock, durable writes, new/publish/garbage-collect),
``manifest`` (format version, recorded settings, embedder check), ``base`` (the dense and sparse
store interfaces, every hook with its default), ``registry`` (backends by name), ``backends/``
(faiss, bm25s, pinecone), ``docstore`` (SQLite), ``documents`` (BM25 over whole documents),
``writer`` (writing a new generation), ``index`` (opening the live one), ``info`` (statistics).

The store knows nothing of ingest, retrieval or embedders: it imports only config, errors,
text and paths. This file imports nothing.
"""
