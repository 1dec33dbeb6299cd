"""ESIM (Chen et al., ACL 2017) for natural language inference, one small module per part.

Introduced in chapter 04. The pieces, in the paper's order:
input encoding (a BiLSTM that skips padding, eqs. 1-2) -> local inference (masked soft alignment,
eqs. 11-13, and the enhancement, eqs. 14-15) -> inference composition (projection F with
ReLU and a second such BiLSTM, eqs. 16-17) -> masked average and max pooling (eqs. 18-20)
-> an MLP with a tanh hidden layer giving three logits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from nlpbook import rnn, tokenizers
from nlpbook.datasets import SNLI_LABELS
from nlpbook.text import Vocab, require_finite, require_known


def tokenize(sentence: str, lowercase: bool = True) -> list[str]:
    """NLTK word tokens, lowercased as the ported notebook did; `lowercase=False` keeps the
    case, as the paper's vocabulary against the cased 840B vectors. Chapter 04."""
    if not lowercase:
        return tokenizers.nltk_tokenize(sentence)
    return [token.lower() for token in tokenizers.nltk_tokenize(sentence)]


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Softmax over `dim` that gives exactly zero weight where `mask` is False. Chapter 04.

    Every slice along `dim` must keep at least one True entry (sentences are never empty).
    """
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=dim)


def masked_mean_max(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Average and max over time of (B, T, D) `x`, ignoring padding -> (B, 2D). Chapter 04."""
    m = mask.unsqueeze(-1)  # (B, T, 1)
    mean = (x * m).sum(1) / m.sum(1).clamp(min=1)  # (B, D)
    largest = x.masked_fill(~m, float("-inf")).max(1).values  # (B, D)
    return torch.cat([mean, largest], dim=-1)  # (B, 2D)


def exact_match(a, a_mask, b, b_mask):
    """Ids a (B, Ta), b (B, Tb) and their masks -> float flags (B, Ta) and (B, Tb): 1 where the
    word also occurs in the other sentence, 0 elsewhere (also for <unk>, which matches nothing,
    and at padding). An input feature beside the embedding, not in the paper. Chapter 04."""
    same = a[:, :, None] == b[:, None, :]  # (B, Ta, Tb)
    same &= a_mask[:, :, None] & b_mask[:, None, :] & (a != Vocab.unk_index)[:, :, None]
    return same.any(2).float(), same.any(1).float()


class ContextBiLSTM(nn.Module):
    """ESIM's one-layer bidirectional LSTM that (with `packed`) never reads padding. Chapter 04.

    With `packed=True` it is `rnn.BiLSTM`, which gives exactly what `nn.LSTM` gives on a
    packed batch, on the fused kernel. `packed=False` runs a plain `nn.LSTM` over the padded
    batch as the ported notebook did; it exists to measure what that costs (see
    benchmarks/bench_esim.py). Both store their weights under the same names.
    """

    def __init__(self, input_size: int, hidden_size: int, packed: bool = True) -> None:
        super().__init__()
        if packed:
            self.lstm = rnn.BiLSTM(input_size, hidden_size)
        else:
            self.lstm = nn.LSTM(input_size, hidden_size, batch_first=True, bidirectional=True)
        self.packed = packed

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T, D) inputs and (B,) lengths -> (B, T, 2H); with `packed`, zeros at padding."""
        if not self.packed:
            return self.lstm(x)[0]  # (B, T, 2H)
        return self.lstm(x, lengths)[0]

    def forward_pair(self, x_a, a_lengths, x_b, b_lengths, one_call: bool = True):
        """Both sentences of a batch of pairs, (B, Ta, D) and (B, Tb, D) -> (B, Ta, 2H), (B, Tb, 2H).

        With `one_call` (and `packed`) both go through the LSTM in one kernel call, each row
        holding its premise, a reset step and its hypothesis (`rnn.BiLSTM.forward_pair`):
        what two calls give, to float rounding. A plain LSTM (`packed=False`) would carry its
        state from one sentence into the other, so it always takes two calls.
        """
        if not (one_call and self.packed):
            return self(x_a, a_lengths), self(x_b, b_lengths)
        return self.lstm.forward_pair(x_a, a_lengths, x_b, b_lengths)


class InputEncoding(nn.Module):
    """Embeddings (plus, with `exact_match`, one flag per token) then a BiLSTM over each
    sentence (eqs. 1-2). Chapter 04."""

    def __init__(self, vocab_size, embedding_dim, hidden_size, dropout=0.0, packed=True, exact_match=False):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=Vocab.pad_index)
        self.dropout = nn.Dropout(dropout)
        self.exact_match = exact_match
        self.bilstm = ContextBiLSTM(embedding_dim + int(exact_match), hidden_size, packed)

    def embed(self, ids: torch.Tensor, match=None) -> torch.Tensor:
        """(B, T) ids (and flags) -> (B, T, E [+ 1]): what the BiLSTM reads."""
        x = self.dropout(self.embedding(ids))  # (B, T, E)
        if self.exact_match:
            if match is None:
                raise ValueError("this encoder reads an exact-match flag per token: pass match (B, T)")
            x = torch.cat([x, match[..., None].to(x.dtype)], dim=-1)  # (B, T, E + 1)
        return x

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor, match=None) -> torch.Tensor:
        """(B, T) ids (and, with `exact_match`, (B, T) flags) -> (B, T, 2H) contextual vectors."""
        return self.bilstm(self.embed(ids, match), lengths)

    def forward_pair(self, a, a_lengths, b, b_lengths, a_match=None, b_match=None, one_call=True):
        """Premises and hypotheses -> (B, Ta, 2H), (B, Tb, 2H), the BiLSTM in one call
        (`ContextBiLSTM.forward_pair`). Dropout is drawn per sentence, premise first, so the
        random draws are those of two `forward` calls."""
        x_a, x_b = self.embed(a, a_match), self.embed(b, b_match)
        return self.bilstm.forward_pair(x_a, a_lengths, x_b, b_lengths, one_call)


class SoftAlignment(nn.Module):
    """e = a bᵀ, masked softmax both ways, aligned vectors ã and b̃ (eqs. 11-13). Chapter 04."""

    def forward(self, a, a_mask, b, b_mask):
        """a (B, Ta, D), b (B, Tb, D) -> ã (B, Ta, D), b̃ (B, Tb, D), weights of each."""
        e = a @ b.transpose(1, 2)  # (B, Ta, Tb)
        a_to_b = masked_softmax(e, b_mask[:, None, :], dim=2)  # (B, Ta, Tb), rows sum to 1
        b_to_a = masked_softmax(e, a_mask[:, :, None], dim=1)  # (B, Ta, Tb), columns sum to 1
        a_tilde = a_to_b @ b  # (B, Ta, D)
        b_tilde = b_to_a.transpose(1, 2) @ a  # (B, Tb, D)
        return a_tilde, b_tilde, a_to_b, b_to_a


def enhance(x: torch.Tensor, x_tilde: torch.Tensor) -> torch.Tensor:
    """[x; x̃; x − x̃; x ⊙ x̃] (eqs. 14-15): (B, T, D) twice -> (B, T, 4D). Chapter 04."""
    return torch.cat([x, x_tilde, x - x_tilde, x * x_tilde], dim=-1)


class Composition(nn.Module):
    """The projection F (linear + ReLU) then a BiLSTM over the enhanced vectors (eqs. 16-17).

    Chapter 04.
    """

    def __init__(self, input_size, hidden_size, dropout=0.0, packed=True):
        super().__init__()
        self.projection = nn.Sequential(nn.Linear(input_size, hidden_size), nn.ReLU())
        self.dropout = nn.Dropout(dropout)
        self.bilstm = ContextBiLSTM(hidden_size, hidden_size, packed)

    def forward(self, m: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T, 8H) -> (B, T, 2H)."""
        return self.bilstm(self.dropout(self.projection(m)), lengths)

    def forward_pair(self, m_a, a_lengths, m_b, b_lengths, one_call=True):
        """Both sentences' enhanced vectors -> (B, Ta, 2H), (B, Tb, 2H), the BiLSTM in one call
        (`ContextBiLSTM.forward_pair`); projection and dropout per sentence, as two calls do."""
        x_a, x_b = self.dropout(self.projection(m_a)), self.dropout(self.projection(m_b))
        return self.bilstm.forward_pair(x_a, a_lengths, x_b, b_lengths, one_call)


class Classifier(nn.Module):
    """An MLP with one tanh hidden layer: (B, 8H) pooled features -> (B, C) logits. Chapter 04."""

    def __init__(self, input_size, hidden_size, num_classes=3, dropout=0.0):
        super().__init__()
        self.net = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(input_size, hidden_size),
            nn.Tanh(),
            nn.Dropout(dropout),
            nn.Linear(hidden_size, num_classes),
        )

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return self.net(v)


@dataclass
class ESIMConfig:
    """ESIM's sizes; `asdict` of it goes into a checkpoint. Chapter 04."""

    vocab_size: int
    embedding_dim: int = 50
    hidden_size: int = 100
    num_classes: int = 3
    dropout: float = 0.0
    packed: bool = True
    exact_match: bool = False  # the exact-match input flag (not in the paper; see `exact_match`)
    lowercase: bool = True  # how `predict` tokenises: False for a cased vocabulary (the paper's)


class ESIM(nn.Module):
    """The whole model: forward(a, a_lengths, b, b_lengths) -> (B, 3) logits. Chapter 04.

    Premise and hypothesis share the input encoder and the composition BiLSTM. Each runs
    once over both sentences, each row holding a premise, a reset step and its hypothesis
    (`rnn.BiLSTM.forward_pair`): the same outputs and gradients as one call per sentence, to
    float rounding, with half the kernel calls and, on batches bucketed by the pair's total
    length, a quarter fewer LSTM steps (benchmarks/bench_esim.py measures it).
    `model.one_call = False` runs one call per sentence. It is not part of the config or the
    checkpoint: it changes how the model runs, not what it computes.
    """

    config_class = ESIMConfig

    def __init__(self, config: ESIMConfig) -> None:
        super().__init__()
        self.one_call = True  # both sentences in one LSTM call (see the class docstring)
        c = self.config = config
        h = c.hidden_size
        self.encoding = InputEncoding(c.vocab_size, c.embedding_dim, h, c.dropout, c.packed, c.exact_match)
        self.alignment = SoftAlignment()
        self.composition = Composition(8 * h, h, c.dropout, c.packed)
        self.classifier = Classifier(8 * h, h, c.num_classes, c.dropout)

    def forward(self, a, a_lengths, b, b_lengths, return_attention: bool = False):
        """Premise ids a (B, Ta) and hypothesis ids b (B, Tb), with their (B,) lengths."""
        a_mask = rnn.length_mask(a_lengths.to(a.device), a.shape[1])  # (B, Ta)
        b_mask = rnn.length_mask(b_lengths.to(b.device), b.shape[1])  # (B, Tb)
        a_match, b_match = exact_match(a, a_mask, b, b_mask) if self.config.exact_match else (None, None)
        if self.one_call:  # the shared encoder once over both sentences
            a_bar, b_bar = self.encoding.forward_pair(a, a_lengths, b, b_lengths, a_match, b_match)
        else:
            a_bar = self.encoding(a, a_lengths, a_match)  # (B, Ta, 2H)
            b_bar = self.encoding(b, b_lengths, b_match)  # (B, Tb, 2H)
        a_tilde, b_tilde, a_to_b, b_to_a = self.alignment(a_bar, a_mask, b_bar, b_mask)
        m_a, m_b = enhance(a_bar, a_tilde), enhance(b_bar, b_tilde)  # (B, Ta, 8H), (B, Tb, 8H)
        if self.one_call:
            v_a, v_b = self.composition.forward_pair(m_a, a_lengths, m_b, b_lengths)
        else:
            v_a = self.composition(m_a, a_lengths)  # (B, Ta, 2H)
            v_b = self.composition(m_b, b_lengths)  # (B, Tb, 2H)
        v = torch.cat([masked_mean_max(v_a, a_mask), masked_mean_max(v_b, b_mask)], -1)
        logits = self.classifier(v)  # (B, C)
        return (logits, a_to_b, b_to_a) if return_attention else logits


def tokenize_pairs(
    pairs: Sequence[tuple[str, str, int]], lowercase: bool = True
) -> list[tuple[list[str], list[str], int]]:
    """(premise, hypothesis, label) strings -> token lists, each distinct sentence tokenised once
    (lowercased unless `lowercase` is False). Chapter 04.
    """
    cache: dict[str, list[str]] = {}

    def tok(sentence: str) -> list[str]:
        if sentence not in cache:
            cache[sentence] = tokenize(sentence, lowercase)
        return cache[sentence]

    return [(tok(p), tok(h), y) for p, h, y in pairs]


def encode_tokens(
    token_pairs: Sequence[tuple[list[str], list[str], int]], vocab: Vocab
) -> list[tuple[list[int], list[int], int]]:
    """Token-list pairs -> (ids_a, ids_b, label) examples for `batching.collate_pairs`.

    Chapter 04.
    """
    return [(vocab.lookup_indices(a), vocab.lookup_indices(b), y) for a, b, y in token_pairs]


# predict's cap per sentence: the alignment matrix grows with the product of the two lengths
# (two 100,000-word sentences would ask for 40 GB); SNLI's sentences have fewer than 100 tokens.
MAX_SENTENCE_TOKENS = 512


def _check_sentence(value, name: str, lowercase: bool) -> list[str]:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    tokens = tokenize(value, lowercase)
    if not tokens:
        raise ValueError(f"{name} is empty: give a sentence with at least one word")
    if len(tokens) > MAX_SENTENCE_TOKENS:
        raise ValueError(
            f"{name} has {len(tokens):,} tokens; predict takes at most {MAX_SENTENCE_TOKENS} "
            "a sentence (the alignment grows with the product of the two lengths)"
        )
    return tokens


def _run_one(model: ESIM, vocab: Vocab, premise, hypothesis):
    tokens_a = _check_sentence(premise, "premise", model.config.lowercase)
    tokens_b = _check_sentence(hypothesis, "hypothesis", model.config.lowercase)
    device = next(model.parameters()).device
    ids_a, ids_b = vocab.lookup_indices(tokens_a), vocab.lookup_indices(tokens_b)
    require_known(ids_a, "premise")
    require_known(ids_b, "hypothesis")
    a = torch.tensor([ids_a], device=device)  # (1, Ta)
    b = torch.tensor([ids_b], device=device)  # (1, Tb)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = model(a, torch.tensor([a.shape[1]]), b, torch.tensor([b.shape[1]]), True)
    model.train(was_training)
    for tensor in out:  # the logits and both attention weights: NaN would read as 'entailment'
        require_finite(tensor, "pair")
    return tokens_a, tokens_b, out


def predict(model: ESIM, vocab: Vocab, premise: str, hypothesis: str) -> tuple[str, dict]:
    """The label of a raw-text pair and the three class probabilities. Chapter 04.

    A sentence too long (`MAX_SENTENCE_TOKENS`) or a model whose output is NaN or inf is
    refused with a ValueError, and a sentence with no word in the vocabulary with
    `text.NoKnownWords`, as in every chapter's predict function.
    """
    _, _, (logits, _, _) = _run_one(model, vocab, premise, hypothesis)
    probs = torch.softmax(logits[0], dim=-1).cpu().tolist()
    label = SNLI_LABELS[max(range(len(probs)), key=probs.__getitem__)]
    return label, dict(zip(SNLI_LABELS, probs, strict=True))


def alignment_weights(model: ESIM, vocab: Vocab, premise: str, hypothesis: str):
    """Premise tokens, hypothesis tokens and the (Ta, Tb) premise-to-hypothesis weights.

    Chapter 04.
    """
    tokens_a, tokens_b, (_, a_to_b, _) = _run_one(model, vocab, premise, hypothesis)
    return tokens_a, tokens_b, a_to_b[0].cpu()
