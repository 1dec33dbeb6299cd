"""Tokenizers: a basic one (Unicode letters and digits, English clitics), spaCy's rule-based
English tokenizer and NLTK's Treebank tokenizer, none of which needs a download.

Chapters 02-04 (chapter 05's word rule, `corpus.word_tokens`, shares `word_character`).
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Callable
from functools import lru_cache


@lru_cache(maxsize=1)
def combining_marks() -> str:
    """A regex character class body of every Unicode combining mark (categories Mn, Mc, Me).

    Chapters 03 and 05 (through `basic_tokenize` and `corpus.word_tokens`).

    Python's `\\w` has letters and digits of every script but not the marks that are part of
    many words (Devanagari vowel signs, Arabic vowels, a decomposed é): words take them too.
    Built once, on first use (a scan of every code point, about 0.4 s)."""
    ranges: list[list[int]] = []
    for code in range(sys.maxunicode + 1):
        if unicodedata.category(chr(code)).startswith("M"):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
    return "".join(f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)


def word_character() -> str:
    """A regex for one character of a word: a letter or digit of any script, or a mark.

    Shared by `basic_tokenize` and chapter 05's `corpus.word_tokens`, so 'café' stays one word."""
    return rf"(?:[^\W_]|[{combining_marks()}])"


@lru_cache(maxsize=1)
def _basic_pattern() -> re.Pattern:
    word = word_character()
    letter = rf"(?:[^\W\d_]|[{combining_marks()}])"
    # words, with an English clitic (don't, it's); any other character but spaces alone
    return re.compile(rf"{word}+(?:'{letter}+)?|[^\w\s]|_")


def basic_tokenize(text: str) -> list[str]:
    """Lowercase and split into words (letters and digits of any script, with English
    clitics) and single punctuation marks. Chapter 03 (its tests and benchmarks)."""
    if not isinstance(text, str):
        raise TypeError(f"basic_tokenize takes a string, not {type(text).__name__}")
    return _basic_pattern().findall(text.lower())


@lru_cache(maxsize=1)
def _spacy_tokenizer():
    import spacy

    # A blank English pipeline has the same rule-based tokenizer as en_core_web_sm,
    # without the download that spacy.load('en_core_web_sm') needs.
    return spacy.blank("en").tokenizer


def spacy_tokenize(text: str) -> list[str]:
    """spaCy's English tokenizer (from `spacy.blank("en")`), case preserved. Chapter 03."""
    return [token.text for token in _spacy_tokenizer()(text)]


@lru_cache(maxsize=1)
def _nltk_tokenizer():
    from nltk.tokenize import NLTKWordTokenizer

    # word_tokenize needs the punkt_tab download for sentence splitting; this does not.
    return NLTKWordTokenizer()


def nltk_tokenize(text: str) -> list[str]:
    """NLTK's Treebank-style word tokenizer (`NLTKWordTokenizer`), case preserved.

    Chapters 02 and 04.
    """
    return _nltk_tokenizer().tokenize(text)


TOKENIZERS: dict[str, Callable[[str], list[str]]] = {
    "basic": basic_tokenize,
    "spacy": spacy_tokenize,
    "nltk": nltk_tokenize,
}


def get_tokenizer(name: str) -> Callable[[str], list[str]]:
    """A tokenizer by name: 'basic', 'spacy' or 'nltk'. Chapters 02-04."""
    try:
        return TOKENIZERS[name]
    except KeyError:
        raise ValueError(
            f"unknown tokenizer {name!r}; choose one of {', '.join(TOKENIZERS)}"
        ) from None
