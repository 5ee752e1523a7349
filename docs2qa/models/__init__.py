"""The models layer: what generation, curation, export and eval share about models.

embedded.py resolves the offline models shipped in PyPI packages (`embedded:NAME`),
embeddings.py embeds questions with sentence-transformers (dedup, review vectors, split leak
checks), decoding.py holds what batched greedy decoding needs. Stage packages import from here,
never from each other; heavy imports (torch, transformers) stay inside the functions.
"""
