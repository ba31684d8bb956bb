"""ragkit: a command-line RAG toolkit, offline by default."""

__version__ = "0.1.0"
