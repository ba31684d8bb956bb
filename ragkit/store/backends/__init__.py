"""The built-in store backends, one module or subpackage each: ``faiss`` (dense: flat, HNSW, IVF),
``bm25s`` (sparse) and ``pinecone`` (dense and sparse, remote).

Each implements :class:`ragkit.store.base.DenseStore` or :class:`~ragkit.store.base.SparseStore`;
:mod:`ragkit.store.registry` registers them by the names config files use. The backends never
import each other. This file imports nothing.
"""
