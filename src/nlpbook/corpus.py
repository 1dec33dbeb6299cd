"""Chapter 05's corpus and word codes: sentences from reviews, their vocabulary and ids,
binary word codes (GloVe's or word2vec's signs) and the unigram prior.

Sentences are tokenised and wrapped in <beg> and <end>; ids below `FIRST_WORD` (pad, unk,
<beg>, <end>) are never targets nor candidates. The model that fills the blanks, its loss
and its decoding are in `nlpbook.models.infill`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

import torch
from gensim.models import Word2Vec

from nlpbook import text, tokenizers
from nlpbook.text import Vocab

BEG, END, BLANK = "<beg>", "<end>", "__"
SPECIALS = (BEG, END)  # with pad = 0 and unk = 1 these take ids 2 and 3
FIRST_WORD = 4  # ids below this are never targets nor candidates

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def _word_regex(w: str) -> re.Pattern:
    # words and digits of any script ('café', 'naïve'); clitics split as GloVe's tokeniser
    # does: don't -> do n't, it's -> it 's. Any other quote is dropped: 'union' -> union.
    return re.compile(rf"{w}+(?=n't)|n't|'(?:s|re|ve|ll|d|m)\b|{w}+")


# The same rule for ASCII text, six times faster than the Unicode class of every mark
_ASCII_WORD = _word_regex("[a-z0-9]")


@lru_cache(maxsize=1)
def _word_pattern() -> re.Pattern:
    return _word_regex(tokenizers.word_character())


def split_sentences(review: str) -> list[str]:
    """A simple splitter: cut after . ! ? followed by a space, and at line breaks. Chapter 05."""
    sentences = _SENTENCE_END.split(text.replace_html_breaks(review, "\n"))
    return [s.strip() for s in sentences if s.strip()]


def word_tokens(sentence: str) -> list[str]:
    """Lowercase and keep words only (letters and digits of any script; no punctuation or
    quotes), clitics split GloVe-style. Chapter 05."""
    sentence = sentence.lower()
    pattern = _ASCII_WORD if sentence.isascii() else _word_pattern()
    return pattern.findall(sentence)


def review_sentences(texts: Iterable[str], min_len: int = 5, max_len: int = 30) -> list[list[str]]:
    """Tokenised sentences of `texts` with `min_len` to `max_len` words each. Chapter 05."""
    out = []
    for review in texts:
        for sentence in split_sentences(review):
            tokens = word_tokens(sentence)
            if min_len <= len(tokens) <= max_len:
                out.append(tokens)
    return out


def build_vocab(sentences: Iterable[Sequence[str]], max_size: int, known=None) -> Vocab:
    """The `max_size` most frequent words (only those in `known`, if given), plus specials.

    Chapter 05.
    """
    counts: dict[str, int] = {}
    for tokens in sentences:
        for t in tokens:
            counts[t] = counts.get(t, 0) + 1
    if known is not None:
        counts = {t: c for t, c in counts.items() if t in known}
    return Vocab.from_counts(counts, max_size=max_size, specials=SPECIALS)


def encode_sentence(tokens: Sequence[str], vocab: Vocab) -> list[int]:
    """Ids of `<beg> tokens <end>`; unknown words map to unk. Chapter 05."""
    return vocab.lookup_indices([BEG, *tokens, END])


def target_mask(ids: torch.Tensor) -> torch.Tensor:
    """True where a position is a real, known word: not pad, unk, <beg> or <end>. Chapter 05."""
    return ids >= FIRST_WORD


def binary_codes(vocab: Vocab, glove) -> torch.Tensor:
    """(V, D) 0/1 codes: each word's GloVe vector > 0; special rows are zero. Chapter 05."""
    codes = torch.zeros(len(vocab), glove.dim)
    for i, word in enumerate(vocab.itos[FIRST_WORD:], start=FIRST_WORD):
        if word not in glove:
            raise KeyError(f"{word!r} has no GloVe vector; build the vocab from GloVe's words")
        codes[i] = torch.from_numpy(glove[word] > 0).float()
    return codes


def word2vec_codes(
    sentences: Iterable[Sequence[str]],
    vocab: Vocab,
    vector_size: int = 100,
    epochs: int = 5,
    window: int = 5,
    seed: int = 0,
) -> torch.Tensor:
    """(V, vector_size) 0/1 codes from word2vec (gensim CBOW) fit on `sentences`: bit j is
    1 where component j of the word's vector is positive; special rows are zero.

    Words outside `vocab` are trained as `<unk>`, so every vocabulary word that occurs gets
    a vector. One worker thread, so the same seed gives the same codes. Chapter 05."""
    unk = vocab.itos[vocab.unk_index]
    corpus = [[t if t in vocab.stoi else unk for t in tokens] for tokens in sentences]
    model = Word2Vec(
        corpus,
        vector_size=vector_size,
        window=window,
        min_count=1,
        workers=1,
        seed=seed,
        epochs=epochs,
    )
    words = vocab.itos[FIRST_WORD:]
    missing = [w for w in words if w not in model.wv]
    if missing:
        raise KeyError(
            f"{len(missing)} vocabulary words never occur in the sentences, e.g. {missing[:5]}"
        )
    codes = torch.zeros(len(vocab), vector_size)
    codes[FIRST_WORD:] = torch.from_numpy(model.wv[words] > 0).float()
    return codes


def unigram_log_prior(sentences: Iterable[Sequence[int]], vocab_size: int) -> torch.Tensor:
    """(V,) log P(w) of each word among the target words of `sentences` (id lists), add-one
    smoothed over the words that can be targets; the specials get -inf. Chapter 05."""
    counts = torch.ones(vocab_size)
    counts[:FIRST_WORD] = 0
    for ids in sentences:
        ids = torch.as_tensor(ids, dtype=torch.long)
        ids = ids[target_mask(ids)]
        counts += torch.bincount(ids, minlength=vocab_size)[:vocab_size].float()
    return torch.log(counts / counts.sum())


def code_collisions(codes: torch.Tensor, vocab: Vocab) -> list[list[str]]:
    """Groups of (non-special) words that share one binary code, largest first. Chapter 05."""
    groups: dict[tuple, list[str]] = {}
    for i in range(FIRST_WORD, len(vocab)):
        groups.setdefault(tuple(codes[i].int().tolist()), []).append(vocab.itos[i])
    return sorted((g for g in groups.values() if len(g) > 1), key=lambda g: (-len(g), g))
