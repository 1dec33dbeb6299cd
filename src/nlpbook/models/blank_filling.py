"""Chapter 05: fill the one blank (`__`) of a sentence a reader types, with a trained model
of `nlpbook.models.infill` (its heads, codes and decoding metrics).
"""

from __future__ import annotations

import re

import torch

from nlpbook import utils
from nlpbook.corpus import BLANK, FIRST_WORD, encode_sentence, word_tokens
from nlpbook.models.infill import check_head, word_scores
from nlpbook.text import Vocab, require_finite, require_known

_BLANK = re.compile(r"_{2,}")
# blank_scores' cap on a text's words (the blank included): the model scores every position,
# so 10,000 words would cost +238 MB; chapter 05's sentences have at most 30 words.
MAX_TEXT_TOKENS = 512


@torch.no_grad()
def blank_scores(
    model,
    vocab: Vocab,
    text: str,
    head: str,
    codes=None,
    metric: str = "likelihood",
    log_prior=None,
) -> torch.Tensor:
    """(V,) scores of every word for the one blank (`__`) in `text`, higher is better
    (see `word_scores`); specials get -inf. Chapter 05.

    A text over `MAX_TEXT_TOKENS` words, or a model whose output is NaN or inf, is a ValueError.
    """
    check_head(head, codes)  # before the model runs
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, not {type(text).__name__}")
    if not text.strip():
        raise ValueError("text is empty; give a sentence with one blank, e.g. 'it was __ good'")
    parts = _BLANK.split(text)
    if len(parts) == 1:
        raise ValueError(f"no blank in {text!r}; mark the missing word with {BLANK}")
    if len(parts) > 2:
        raise ValueError(f"more than one blank in {text!r}; the model fills exactly one")
    left, right = word_tokens(parts[0]), word_tokens(parts[1])
    if len(left) + 1 + len(right) > MAX_TEXT_TOKENS:
        raise ValueError(
            f"the text has {len(left) + 1 + len(right):,} tokens (the blank included); "
            f"fill_blank takes at most {MAX_TEXT_TOKENS}: give the sentence around the blank"
        )
    # the same refusal as every chapter's predict function (text.NoKnownWords)
    require_known(
        vocab.lookup_indices(left + right), f"text around the blank in {text!r}", FIRST_WORD
    )
    device = next(model.parameters()).device
    tokens = [*left, BLANK, *right]  # the blank becomes <unk>
    ids = torch.tensor([encode_sentence(tokens, vocab)], device=device)  # (1, T)
    position = len(left) + 1
    model.eval()
    output = model(ids, torch.tensor([ids.shape[1]]))[:, position]  # (1, C); lengths on the CPU
    require_finite(output, "text")  # the scores themselves hold -inf for the specials
    codes = None if codes is None else codes.to(device)
    return word_scores(output, head, codes, metric, log_prior)[0]


def fill_blank(
    model,
    vocab: Vocab,
    text: str,
    head: str,
    codes=None,
    k: int = 10,
    metric: str = "likelihood",
    log_prior=None,
) -> list[tuple[str, float]]:
    """The `k` best words for the one blank (`__`) in `text`, best first. Chapter 05.

    Returns (word, probability) for the softmax head and (word, score) for the binary head:
    the code's log-likelihood (plus `log_prior`), or minus its distance (hamming, euclidean).
    A `k` above the number of candidate words returns them all.
    """
    utils.whole_number(k, "k", what="how many words to return")
    scores = blank_scores(model, vocab, text, head, codes, metric, log_prior)
    candidates = len(vocab) - FIRST_WORD  # specials are never candidates
    best = scores.topk(min(k, candidates)).indices.tolist()
    if head == "softmax":
        return [(vocab.itos[i], float(scores[i].exp())) for i in best]
    return [(vocab.itos[i], float(scores[i])) for i in best]
