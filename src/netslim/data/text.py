"""Labelled text from ``<label>\\t<text>`` lines, tokenized into padded int64 token ids with a vocabulary."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from netslim.data.dataset import ArrayDataset
from netslim.errors import ConfigError, DataError

PAD, UNK = "<pad>", "<unk>"
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def tokenize(text: str) -> list[str]:
    """Lowercase ``text`` and split it into words at whitespace and punctuation ("Don't stop!" -> don't, stop)."""
    return _WORD.findall(text.lower())


def build_vocab(token_lists: Iterable[list[str]], *, min_count: int = 1) -> tuple[str, ...]:
    """``("<pad>", "<unk>", ...)`` then every token seen at least ``min_count`` times, most frequent first, ties A-Z."""
    counts = Counter(token for tokens in token_lists for token in tokens)
    kept = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
    return (PAD, UNK, *kept)


def encode(tokens: list[str], vocab: tuple[str, ...] | dict[str, int], max_length: int) -> np.ndarray:
    """Map ``tokens`` to int64 ids (unknown -> 1), truncated or padded with 0 to ``max_length``."""
    index = vocab if isinstance(vocab, dict) else {t: i for i, t in enumerate(vocab)}
    ids = np.zeros(max_length, dtype=np.int64)
    for position, token in enumerate(tokens[:max_length]):
        ids[position] = index.get(token, 1)
    return ids


def _check_args(max_length: int, vocab: tuple[str, ...] | None, min_count: int) -> None:
    for name, value in (("max_length", max_length), ("min_count", min_count)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}.")
    if vocab is not None:
        vocab = tuple(vocab)
        if len(vocab) < 2 or vocab[:2] != (PAD, UNK) or len(set(vocab)) != len(vocab):
            raise ConfigError(
                f"vocab must start with {PAD!r}, {UNK!r} and hold no duplicates, got {vocab[:4]!r}... "
                f"({len(vocab)} entries). Reuse the vocab of the training dataset (ds.vocab)."
            )


def _read_lines(path: Path) -> list[tuple[int, str, str]]:
    if not path.is_file():
        raise DataError(f"{path}: expected a text file of '<label>\\t<text>' lines, found nothing there.")
    try:
        content = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not valid UTF-8 text ({exc}); save the file as UTF-8.") from exc
    rows = []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        label, tab, text = line.partition("\t")
        if not tab or not label.strip():
            raise DataError(
                f"{path}, line {number}: expected '<label>\\t<text>' (a label, a tab, the text), got {line[:60]!r}."
            )
        rows.append((number, label.strip(), text))
    if not rows:
        raise DataError(f"{path}: the file holds no '<label>\\t<text>' lines; it is empty.")
    return rows


def _sorted_labels(labels: set[str]) -> tuple[str, ...]:
    if all(re.fullmatch(r"-?\d+", label) for label in labels):
        return tuple(sorted(labels, key=int))
    return tuple(sorted(labels))


Tokenizer = Callable[[list[str]], np.ndarray]


def load_text_lines(
    path: str | Path,
    *,
    max_length: int = 64,
    vocab: tuple[str, ...] | None = None,
    min_count: int = 1,
    tokenizer: Tokenizer | None = None,
) -> ArrayDataset:
    """Load ``<label>\\t<text>`` lines as int64 token ids (N, max_length) with ``classes`` = the sorted labels.

    Labels are sorted as numbers when all are integers, else as strings. The vocabulary is built from this file
    unless ``vocab`` is given (pass the training set's ``ds.vocab`` when loading its test file). A ``tokenizer``
    (texts -> int64 ids ``(N, L)``, e.g. a pretrained model's own, see ``netslim.models.hf_tokenizer``) replaces
    the word vocabulary.

    Example:
        >>> ds = load_text_lines("reviews.tsv", max_length=32)  # doctest: +SKIP
        >>> ds.x.shape, ds.vocab[:2]  # doctest: +SKIP
        ((1000, 32), ('<pad>', '<unk>'))
    """
    path = Path(path)
    _check_args(max_length, vocab, min_count)
    rows = _read_lines(path)
    classes = _sorted_labels({label for _, label, _ in rows})
    label_index = {label: i for i, label in enumerate(classes)}
    y = np.array([label_index[label] for _, label, _ in rows], dtype=np.int64)
    if tokenizer is not None:
        ids = np.asarray(tokenizer([text for _, _, text in rows]), dtype=np.int64)
        return ArrayDataset(ids, y, name=str(path), classes=classes)
    tokens = [tokenize(text) for _, _, text in rows]
    vocab = tuple(vocab) if vocab is not None else build_vocab(tokens, min_count=min_count)
    token_index = {token: i for i, token in enumerate(vocab)}
    x = np.stack([encode(t, token_index, max_length) for t in tokens])
    return ArrayDataset(x, y, name=str(path), classes=classes, vocab=vocab)
