"""Retrieval over a local folder of documents: chunking and a SQLite FTS5 (BM25) index in a cache file.

This package may use SQL; the engine imports it lazily, inside the `retrieve` executor only, so importing
`workbench.engine` still pulls in no SQL (tests/test_import_hygiene.py).
"""

from workbench.retrieval.index import Hit, chunk_text, index_path, search

__all__ = ["Hit", "chunk_text", "index_path", "search"]
