"""The Vocab that turns tokens into ids (replacing legacy torchtext's), and text helpers.

Introduced in chapter 02; used by every text chapter. The tokenizers are in `nlpbook.tokenizers`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from nlpbook import utils

PAD, UNK = "<pad>", "<unk>"
_HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
# Which tokens of a long text survive truncation: its last ones (where a review's verdict
# usually is) or its first ones.
KEEP = ("last", "first")


def replace_html_breaks(text: str, by: str) -> str:
    """Replace IMDb's `<br />` line breaks with `by`. Chapters 03 and 05."""
    return _HTML_BREAK.sub(by, text)


def truncate(items: Sequence, limit: int | None, keep: str = "last") -> list:
    """The `keep`='last' (or 'first') `limit` items of `items`; all of them for None. Chapters 02-03."""
    if keep not in KEEP:
        raise ValueError(f"keep must be 'last' or 'first', not {keep!r}")
    # 0 would silently mean "no limit" and -1 "drop the first item" through slicing
    utils.whole_number(limit, "the limit", none_ok=True)
    items = list(items)
    if limit is None or len(items) <= limit:
        return items
    return items[-limit:] if keep == "last" else items[:limit]


def _lists_of_tokens(token_lists: Iterable[Iterable[str]]) -> Iterator[Iterable[str]]:
    """Yield each token list, refusing strings (counting one would count its characters)."""
    if isinstance(token_lists, str):
        token_lists = [token_lists]
    for tokens in token_lists:
        if isinstance(tokens, str):
            raise TypeError(
                f"Vocab.build takes lists of tokens, not strings like {tokens[:30]!r}; "
                "tokenize first: Vocab.build(tokenize(text) for text in texts)"
            )
        if isinstance(tokens, (bytes, bytearray)):  # would count its bytes as ints
            raise TypeError(
                f"Vocab.build takes lists of str tokens, not bytes like {tokens[:30]!r}; "
                "decode and tokenize first"
            )
        yield tokens


class NoKnownWords(ValueError):
    """Every predict function's answer to a text with no word in the vocabulary.

    The model would see nothing but `<unk>` and its output would say what it learned about
    `<unk>`, not about the text; so chapters 02-05 refuse such input the same way, with this
    error (a ValueError, like their other bad-input errors) naming what had no known word.
    """


def require_known(ids: Iterable[int], what: str, first_word: int = 2) -> int:
    """How many of the token `ids` (as the model will see them) are words, i.e. at least
    `first_word` (pad, unk and other specials are below it); raises NoKnownWords when none
    is. Padding is not counted as input. `what` names the input ("review", "premise", ...).
    Chapters 02-05."""
    ids = [i for i in map(int, ids) if i != Vocab.pad_index]
    known = sum(i >= first_word for i in ids)
    if known == 0:
        raise NoKnownWords(
            f"no word of the {what} is in the model's vocabulary ({len(ids)} tokens, all "
            "unknown); the model would see only <unk>, so it does not guess"
        )
    return known


def require_finite(output, what: str) -> None:
    """Raise ValueError unless the model's `output` (a tensor) is finite: NaN or inf comes from
    weights that hold NaN or inf (training that diverged, a damaged file), and a NaN
    probability must not be reported as a label. `what` names the input. Chapters 02-05."""
    finite = output.isfinite()
    if not bool(finite.all()):
        value = output[~finite].flatten()[0].item()
        raise ValueError(
            f"the model's output for this {what} is not finite ({value}): its weights probably "
            "hold NaN or inf (did training diverge?); retrain it or load a good checkpoint"
        )


class Vocab:
    """A token <-> id mapping with pad = 0 and unk = 1; unknown tokens map to unk. Chapters 02-05.

    Build it with `Vocab.build(token_lists, max_size=..., min_freq=...)`: tokens are
    ordered by (-count, token), so the same corpus always gives the same ids.
    """

    def __init__(self, itos: Sequence[str]) -> None:
        itos = list(itos)
        if itos[:2] != [PAD, UNK]:
            raise ValueError(f"a Vocab starts with {PAD!r}, {UNK!r}; got {itos[:2]}")
        if len(set(itos)) != len(itos):
            raise ValueError("a Vocab's tokens must be unique")
        self.itos = itos
        self.stoi = {token: i for i, token in enumerate(itos)}

    pad_index = 0
    unk_index = 1

    @classmethod
    def build(
        cls,
        token_lists: Iterable[Iterable[str]],
        max_size: int | None = None,
        min_freq: int = 1,
        specials: Sequence[str] = (),
    ) -> Vocab:
        """Count tokens and keep the `max_size` most frequent seen at least `min_freq` times.

        `max_size` does not count pad, unk or `specials` (extra reserved tokens).
        """
        counts = Counter(token for tokens in _lists_of_tokens(token_lists) for token in tokens)
        return cls.from_counts(counts, max_size=max_size, min_freq=min_freq, specials=specials)

    @classmethod
    def from_counts(
        cls,
        counts: Counter | dict[str, int],
        max_size: int | None = None,
        min_freq: int = 1,
        specials: Sequence[str] = (),
    ) -> Vocab:
        """A Vocab from token counts (see `build`)."""
        # -1 would silently drop the last token through slicing
        utils.whole_number(max_size, "max_size", 0, none_ok=True)
        not_str = [t for t in counts if not isinstance(t, str)]
        if not_str:
            raise TypeError(
                f"a Vocab's tokens are strings; got {type(not_str[0]).__name__} {not_str[0]!r}"
            )
        reserved = [PAD, UNK, *[s for s in specials if s not in (PAD, UNK)]]
        kept = sorted(
            (t for t, c in counts.items() if c >= min_freq and t not in reserved),
            key=lambda t: (-counts[t], t),
        )
        return cls(reserved + kept[:max_size])

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __getitem__(self, token: str) -> int:
        return self.stoi.get(token, self.unk_index)

    def lookup_indices(self, tokens: Iterable[str]) -> list[int]:
        """Ids of `tokens` (a list of str), unknown ones mapped to unk."""
        if isinstance(tokens, str):  # would look up its characters one by one
            raise TypeError(
                f"lookup_indices takes a list of tokens, not a string like {tokens[:30]!r}; "
                "tokenize it first"
            )
        unk = self.unk_index
        return [self.stoi.get(t, unk) for t in tokens]

    def lookup_tokens(self, indices: Iterable[int]) -> list[str]:
        """Tokens of `indices`; an id outside the vocabulary (negative ones too) is an IndexError."""
        size = len(self.itos)
        tokens = []
        for i in indices:
            i = int(i)
            if not 0 <= i < size:  # a negative id would silently count from the end
                raise IndexError(f"id {i} is outside the vocabulary (0 to {size - 1})")
            tokens.append(self.itos[i])
        return tokens

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.itos == other.itos

    def __repr__(self) -> str:
        return f"Vocab(size={len(self)}, first={self.itos[2:7]})"

    def save(self, path: str | Path) -> None:
        """Write a header line with the size, then one token a line (UTF-8); tokens with
        newlines cannot be saved. The size lets `load` tell a file cut at a line end."""
        if any("\n" in t or "\r" in t for t in self.itos):
            raise ValueError("cannot save a Vocab whose tokens contain line breaks")
        lines = "\n".join([_HEADER.format(len(self)), *self.itos]) + "\n"
        utils.save_atomically(path, lines, "vocab.txt")

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        """Read a Vocab written by `save`; a file cut short is an error, not a lost token."""
        try:
            text = Path(path).read_bytes().decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"{path} is not a saved Vocab: it is not UTF-8 text ({e})") from None
        if not text:
            raise ValueError(f"{path} is empty; not a saved Vocab")
        if not text.endswith("\n"):  # save ends every token with a newline
            raise ValueError(f"{path} is truncated: its last line has no newline")
        header, *tokens = text.split("\n")[:-1]
        _check_header(path, header, len(tokens))
        try:
            return cls(tokens)
        except ValueError as e:
            raise ValueError(f"{path} is not a saved Vocab: {e}") from None


# Vocab.save's first line; a file without it (nlpbook before issue 22) is refused by load.
_HEADER = "# nlpbook vocab: {} tokens"
_HEADER_PATTERN = re.compile(r"# nlpbook vocab: (\d+) tokens")


def _check_header(path: str | Path, header: str, found: int) -> None:
    """Raise ValueError unless `header` is Vocab.save's and gives `found` as the size."""
    match = _HEADER_PATTERN.fullmatch(header)
    if match is None and header == PAD:
        raise ValueError(
            f"{path} was saved by an older nlpbook, without the line that gives its size, so "
            "a cut could not be detected. If it is whole, save it anew: "
            "Vocab(path.read_text(encoding='utf-8').split('\\n')[:-1]).save(path)"
        )
    if match is None:
        raise ValueError(
            f"{path} is not a saved Vocab: its first line is {header[:40]!r}, not "
            f"{_HEADER.format('N')!r}"
        )
    if int(match[1]) != found:
        raise ValueError(
            f"{path} is truncated or damaged: its first line says {match[1]} tokens, "
            f"it holds {found}"
        )
