"""Chapter 05: fill in a missing word with a bidirectional LSTM.

The corpus helpers turn reviews into tokenised sentences between <beg> and <end>; the
model reads a sentence with a BiLSTM and, for each position t, joins the forward state
of t-1 with the backward state of t+1, so it never sees the word it predicts. Two heads:
binary word codes (word vectors binarised, trained with BCE, decoded by the codes'
likelihood plus a word-frequency prior, or by nearest code) or a softmax over the
vocabulary (cross-entropy).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from nlpbook import rnn
from nlpbook.text import Vocab, require_known
from nlpbook.utils import Timer

BEG, END, BLANK = "<beg>", "<end>", "__"
SPECIALS = (BEG, END)  # with pad = 0 and unk = 1 these take ids 2 and 3
FIRST_WORD = 4  # ids below this are never targets nor candidates
HEADS = ("binary", "softmax")

_HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
# words and digits; clitics split as GloVe's tokeniser does: don't -> do n't, it's -> it 's.
# Any other quote is dropped: 'union' -> union.
_WORD = re.compile(r"[a-z0-9]+(?=n't)|n't|'(?:s|re|ve|ll|d|m)\b|[a-z0-9]+")


def remove_html(text: str) -> str:
    """Replace IMDb's `<br />` line breaks with newlines."""
    return _HTML_BREAK.sub("\n", text)


def split_sentences(text: str) -> list[str]:
    """A simple splitter: cut after . ! ? followed by a space, and at line breaks."""
    return [s.strip() for s in _SENTENCE_END.split(remove_html(text)) if s.strip()]


def tokenize(sentence: str) -> list[str]:
    """Lowercase and keep words only (no punctuation or quotes), clitics split GloVe-style."""
    return _WORD.findall(sentence.lower())


def review_sentences(texts: Iterable[str], min_len: int = 5, max_len: int = 30) -> list[list[str]]:
    """Tokenised sentences of `texts` with `min_len` to `max_len` words each."""
    out = []
    for text in texts:
        for sentence in split_sentences(text):
            tokens = tokenize(sentence)
            if min_len <= len(tokens) <= max_len:
                out.append(tokens)
    return out


def build_vocab(sentences: Iterable[Sequence[str]], max_size: int, known=None) -> Vocab:
    """The `max_size` most frequent words (only those in `known`, if given), plus specials."""
    counts: dict[str, int] = {}
    for tokens in sentences:
        for t in tokens:
            counts[t] = counts.get(t, 0) + 1
    if known is not None:
        counts = {t: c for t, c in counts.items() if t in known}
    return Vocab.from_counts(counts, max_size=max_size, specials=SPECIALS)


def encode(tokens: Sequence[str], vocab: Vocab) -> list[int]:
    """Ids of `<beg> tokens <end>`; unknown words map to unk."""
    return vocab.lookup_indices([BEG, *tokens, END])


def target_mask(ids: torch.Tensor) -> torch.Tensor:
    """True where a position is a real, known word: not pad, unk, <beg> or <end>."""
    return ids >= FIRST_WORD


def binary_codes(vocab: Vocab, glove) -> torch.Tensor:
    """(V, D) 0/1 codes: each word's GloVe vector > 0; special rows are zero."""
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
    from gensim.models import Word2Vec  # imported here: only chapter 05 needs gensim

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
    smoothed over the words that can be targets; the specials get -inf."""
    counts = torch.ones(vocab_size)
    counts[:FIRST_WORD] = 0
    for ids in sentences:
        ids = torch.as_tensor(ids, dtype=torch.long)
        ids = ids[target_mask(ids)]
        counts += torch.bincount(ids, minlength=vocab_size)[:vocab_size].float()
    return torch.log(counts / counts.sum())


def code_collisions(codes: torch.Tensor, vocab: Vocab) -> list[list[str]]:
    """Groups of (non-special) words that share one binary code, largest first."""
    groups: dict[tuple, list[str]] = {}
    for i in range(FIRST_WORD, len(vocab)):
        groups.setdefault(tuple(codes[i].int().tolist()), []).append(vocab.itos[i])
    return sorted((g for g in groups.values() if len(g) > 1), key=lambda g: (-len(g), g))


def collate_sentences(batch: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Id sequences -> (ids (B, T) padded with 0, lengths (B,) on CPU)."""
    tensors = [torch.as_tensor(s, dtype=torch.long) for s in batch]
    lengths = torch.tensor([len(t) for t in tensors])
    return nn.utils.rnn.pad_sequence(tensors, batch_first=True), lengths


def shift_context(output: torch.Tensor) -> torch.Tensor:
    """(B, T, 2H) BiLSTM output -> (B, T, 2H): [forward at t-1; backward at t+1], zeros at the ends."""
    hidden = output.shape[-1] // 2
    forward, backward = output[..., :hidden], output[..., hidden:]  # (B, T, H) each
    forward = F.pad(forward, (0, 0, 1, 0))[:, :-1]  # position t gets forward state t-1
    backward = F.pad(backward, (0, 0, 0, 1))[:, 1:]  # position t gets backward state t+1
    return torch.cat([forward, backward], dim=-1)


class InfillModel(nn.Module):
    """Embedding -> BiLSTM that skips padding (`rnn.BiLSTM`) -> shifted context -> MLP ->
    `out_features` per position."""

    def __init__(
        self,
        vocab_size: int,
        out_features: int,
        embedding_dim: int = 64,
        hidden_size: int = 128,
        mlp_size: int = 128,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.lstm = rnn.BiLSTM(embedding_dim, hidden_size)
        self.mlp = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(2 * hidden_size, mlp_size),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(mlp_size, out_features),
        )

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        embedded = self.embedding(ids)  # (B, T, E)
        output, _ = self.lstm(embedded, lengths)  # (B, T, 2H), zeros at padding
        return self.mlp(shift_context(output))  # (B, T, out_features)


def infill_loss(
    output: torch.Tensor, ids: torch.Tensor, head: str, codes: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean loss over target positions only (pad, unk, <beg>, <end> masked out)."""
    mask = target_mask(ids)  # (B, T)
    if head == "softmax":
        return F.cross_entropy(output[mask], ids[mask])
    if head == "binary":
        bits = codes[ids]  # (B, T, D)
        loss = F.binary_cross_entropy_with_logits(output, bits, reduction="none")  # (B, T, D)
        return (loss * mask.unsqueeze(-1)).sum() / (mask.sum() * bits.shape[-1]).clamp(min=1)
    raise ValueError(f"head must be one of {HEADS}, not {head!r}")


METRICS = ("likelihood", "hamming", "euclidean")


def word_scores(
    output: torch.Tensor,
    head: str,
    codes: torch.Tensor | None = None,
    metric: str = "likelihood",
    log_prior: torch.Tensor | None = None,
) -> torch.Tensor:
    """(N, C) head outputs -> (N, V) scores, higher is better; specials get -inf.

    softmax: log-probabilities. binary: the log-likelihood of each word's code under the
    predicted bit probabilities (likelihood), or minus the distance from the bits thresholded
    at 0.5 (hamming: the article's rule) or from the probabilities themselves (euclidean) to
    each word's code. A (V,) `log_prior` (e.g. alpha * log P(w)) is added to binary scores.
    """
    if head == "softmax":
        scores = torch.log_softmax(output, dim=-1)
    elif head == "binary":
        probs = torch.sigmoid(output)  # (N, D)
        if metric == "hamming":
            probs = (probs > 0.5).float()
            scores = -torch.cdist(probs, codes, p=1)
        elif metric == "euclidean":
            scores = -torch.cdist(probs, codes)
        elif metric == "likelihood":  # log P(code | bit probabilities), bits independent
            logp, log1mp = F.logsigmoid(output), F.logsigmoid(-output)  # (N, D)
            scores = codes @ logp.T + (1 - codes) @ log1mp.T  # (V, N)
            scores = scores.T
        else:
            raise ValueError(f"metric must be one of {METRICS}, not {metric!r}")
        if log_prior is not None:
            scores = scores + log_prior.to(scores.device)
    else:
        raise ValueError(f"head must be one of {HEADS}, not {head!r}")
    scores = scores.clone()
    scores[:, :FIRST_WORD] = -torch.inf
    return scores  # (N, V)


def rank_of_target(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """0-based rank of each target among the words (ties go to the lower, more frequent id)."""
    target_scores = scores.gather(1, targets.unsqueeze(1))  # (N, 1)
    ids = torch.arange(scores.shape[1], device=scores.device)  # on the scores' device (CUDA too)
    better = (scores > target_scores) | ((scores == target_scores) & (ids < targets.unsqueeze(1)))
    return better.sum(dim=1)


@torch.no_grad()
def evaluate(
    model, loader, head, codes=None, ks=(1, 10), device="cpu", metric="likelihood", log_prior=None
) -> dict[str, float]:
    """Loss, top-k accuracy (and bit accuracy for the binary head) over target positions;
    `metric` and `log_prior` choose the binary head's decoding (see `word_scores`)."""
    model.eval()
    total = {"loss": 0.0, "bits": 0.0, **{f"top{k}": 0.0 for k in ks}}
    n = 0
    codes_d = codes.to(device) if codes is not None else None
    for ids, lengths in loader:
        ids = ids.to(device)
        output = model(ids, lengths)
        mask = target_mask(ids)
        count = int(mask.sum())
        total["loss"] += float(infill_loss(output, ids, head, codes_d)) * count
        out, targets = output[mask], ids[mask]  # (N, C), (N,)
        ranks = rank_of_target(word_scores(out, head, codes_d, metric, log_prior), targets)
        for k in ks:
            total[f"top{k}"] += float((ranks < k).sum())
        if head == "binary":
            total["bits"] += float(((out > 0).float() == codes_d[targets]).float().mean(1).sum())
        n += count
    result = {key: value / max(n, 1) for key, value in total.items()}
    if head != "binary":
        result.pop("bits")
    return result


def fit(
    model,
    train_loader,
    val_loader,
    head,
    optimizer,
    epochs,
    codes=None,
    patience=2,
    clip=1.0,
    device="cpu",
    verbose=True,
    train_eval_loader=None,
) -> list[dict[str, float]]:
    """Train, evaluate top-1 on validation each epoch, keep the best weights, stop early."""
    history, best, best_state, since = [], -1.0, None, 0
    codes_d = codes.to(device) if codes is not None else None
    for epoch in range(1, epochs + 1):
        model.train()
        with Timer() as timer:
            for ids, lengths in train_loader:
                ids = ids.to(device)
                loss = infill_loss(model(ids, lengths), ids, head, codes_d)
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), clip)
                optimizer.step()
        train = None
        if train_eval_loader is not None:  # accuracy on (a subset of) the training data, eval mode
            train = evaluate(model, train_eval_loader, head, codes, device=device)
        val = evaluate(model, val_loader, head, codes, device=device)
        row = {
            "epoch": epoch,
            "seconds": timer.seconds,
            "val_loss": val["loss"],
            "val_acc": val["top1"],
            "val_top10": val["top10"],
        }
        if train is not None:
            row.update(train_loss=train["loss"], train_acc=train["top1"])
        row["best"] = val["top1"] > best
        history.append(row)
        if verbose:
            print(
                f"epoch {epoch:2d}  val loss {val['loss']:.3f}  top-1 {val['top1']:.3f}"
                f"  top-10 {val['top10']:.3f}  {timer.seconds:.1f} s{'  *' if row['best'] else ''}"
            )
        if row["best"]:
            best, best_state, since = val["top1"], copy.deepcopy(model.state_dict()), 0
        else:
            since += 1
            if since >= patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    return history


_BLANK = re.compile(r"_{2,}")


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
    (see `word_scores`); specials get -inf."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, not {type(text).__name__}")
    if not text.strip():
        raise ValueError("text is empty; give a sentence with one blank, e.g. 'it was __ good'")
    parts = _BLANK.split(text)
    if len(parts) == 1:
        raise ValueError(f"no blank in {text!r}; mark the missing word with {BLANK}")
    if len(parts) > 2:
        raise ValueError(f"more than one blank in {text!r}; the model fills exactly one")
    left, right = tokenize(parts[0]), tokenize(parts[1])
    # the same refusal as every chapter's predict function (text.NoKnownWords)
    require_known(vocab.lookup_indices(left + right), f"text around the blank in {text!r}", FIRST_WORD)
    ids = torch.tensor([encode([*left, BLANK, *right], vocab)])  # (1, T); the blank becomes <unk>
    position = len(left) + 1
    model.eval()
    device = next(model.parameters()).device
    output = model(ids.to(device), torch.tensor([ids.shape[1]]))[:, position]  # (1, C)
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
    """The `k` best words for the one blank (`__`) in `text`, best first.

    Returns (word, probability) for the softmax head and (word, score) for the binary head:
    the code's log-likelihood (plus `log_prior`), or minus its distance (hamming, euclidean).
    A `k` above the number of candidate words returns them all.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int (how many words to return), not {k!r}")
    scores = blank_scores(model, vocab, text, head, codes, metric, log_prior)
    candidates = len(vocab) - FIRST_WORD  # specials are never candidates
    best = scores.topk(min(k, candidates)).indices.tolist()
    if head == "softmax":
        return [(vocab.itos[i], float(scores[i].exp())) for i in best]
    return [(vocab.itos[i], float(scores[i])) for i in best]
