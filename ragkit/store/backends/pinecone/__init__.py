"""The ``pinecone`` dense and sparse backends: records in Pinecone indexes, the rest in the index folder.

``client`` (key, address, back-off, batched writes), ``rows`` (a generation's chunk ids and
filters as Pinecone sees them), ``sync`` (owner, journal and clean-up that keep a namespace equal
to the live generation), ``dense`` (:class:`PineconeDense`), ``sparse`` (:class:`PineconeSparse`:
BM25 as sparse vectors). The ``pinecone`` SDK is imported on first use only.
"""

from ragkit.store.backends.pinecone.dense import PineconeDense
from ragkit.store.backends.pinecone.sparse import PineconeSparse

__all__ = ["PineconeDense", "PineconeSparse"]
