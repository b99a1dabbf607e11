"""RAG: a per-profile document store with hybrid search (BM25 from SQLite FTS5 and
vectors, fused by reciprocal rank), fed from files, PDFs, URLs and arXiv papers, usable
offline (the default embedder's weights ship in its package)."""
