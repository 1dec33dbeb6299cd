"""GloVe word vectors in memory: the words, their (V, D) float32 matrix, lookup by word and
nearest neighbours by cosine similarity.

`nlpbook.embeddings.load_glove` returns one (chapters 02-05); `nlpbook.glove_text` parses
GloVe's text files into one and `nlpbook.glove_cache` saves and loads them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class GloVe:
    """Word vectors: `words[i]` has vector `vectors[i]`; `index` maps a word to its row.

    Chapters 02-05.
    """

    words: list[str]
    vectors: np.ndarray  # (V, D) float32

    def __post_init__(self) -> None:
        # Keep the first occurrence: 840B lists a few words twice.
        self.index = {}
        for i, w in enumerate(self.words):
            self.index.setdefault(w, i)

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> np.ndarray:
        return self.vectors[self.index[word]]

    def nearest(self, word: str, k: int = 5) -> list[tuple[str, float]]:
        """The `k` words with the highest cosine similarity to `word` (itself excluded)."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive number of neighbours, not {k!r}")
        if word not in self.index:
            raise KeyError(f"{word!r} has no GloVe vector")
        norms = np.linalg.norm(self.vectors, axis=1) + 1e-8
        query = self[word] / (np.linalg.norm(self[word]) + 1e-8)
        sims = self.vectors @ query / norms
        order = np.argsort(-sims)
        out = [(self.words[i], float(sims[i])) for i in order[: k + 1] if self.words[i] != word]
        return out[:k]
