"""Question embeddings with sentence-transformers, on CPU and offline: near-duplicate detection
(generate), review vectors (curate push) and the leak check between splits (export) use the same ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from docs2qa.errors import Docs2qaError

if TYPE_CHECKING:
    import numpy as np


def embed_questions(questions: Sequence[str], model_spec: str, batch_size: int = 64) -> np.ndarray:
    """(n, d) float32, L2-normalised sentence-transformers embeddings, on CPU, offline."""
    import numpy as np

    model = load_embedder(model_spec)
    if not questions:
        # sentence-transformers 6 renamed the method (the old name warns); older versions lack the new one.
        dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return np.zeros((0, dimension() or 0), dtype=np.float32)
    vectors = model.encode(
        list(questions),
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    return np.ascontiguousarray(vectors, dtype=np.float32)


def load_embedder(model_spec: str) -> Any:
    """A sentence-transformers model on CPU, offline; a clear error when it cannot load."""
    from docs2qa.models.embedded import resolve_model

    path = resolve_model(model_spec)
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise Docs2qaError(
            "dedup needs the package 'sentence-transformers'", "pip install sentence-transformers"
        ) from exc
    try:
        # local_files_only: a missing model fails at once, not after retries against a hub. Not
        # HF_HUB_OFFLINE, which would also stop this process's own pushes (export --push-to-hub).
        model = SentenceTransformer(path, device="cpu", local_files_only=True)
    except Exception as exc:
        hint = "pass a local folder" if not Path(path).exists() else "the folder is not a sentence-transformers model"
        raise Docs2qaError(f"cannot load embedding model {model_spec!r}: {type(exc).__name__}: {exc}", hint) from exc
    return model
