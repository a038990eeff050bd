"""load_text_lines: tokenization, vocabulary order, padding, and line-numbered errors."""

from __future__ import annotations

import re

import numpy as np
import pytest

from netslim.data import load_text_lines, tokenize
from netslim.errors import ConfigError, DataError


def test_tokenize_lowercases_and_splits_punctuation():
    assert tokenize("Don't STOP, me-now!") == ["don't", "stop", "me", "now"]


def test_round_trip(tmp_path):
    path = tmp_path / "reviews.tsv"
    path.write_text("pos\tGood good movie!\n\nneg\tBad movie.\npos\tgood, fun\n", encoding="utf-8")
    ds = load_text_lines(path, max_length=3)
    assert ds.classes == ("neg", "pos") and ds.name == str(path)
    np.testing.assert_array_equal(ds.y, [1, 0, 1])
    assert ds.vocab == ("<pad>", "<unk>", "good", "movie", "bad", "fun")
    assert ds.x.dtype == np.int64 and ds.x.shape == (3, 3)
    np.testing.assert_array_equal(ds.x, [[2, 2, 3], [4, 3, 0], [2, 5, 0]])

    test = tmp_path / "test.tsv"
    test.write_text("neg\tawful movie\n", encoding="utf-8")
    encoded = load_text_lines(test, max_length=4, vocab=ds.vocab)
    np.testing.assert_array_equal(encoded.x, [[1, 3, 0, 0]])


def test_numeric_labels_sort_numerically_and_min_count(tmp_path):
    path = tmp_path / "n.txt"
    path.write_text("10\ta b\n2\ta\n0\tc\n", encoding="utf-8")
    ds = load_text_lines(path, min_count=2)
    assert ds.classes == ("0", "2", "10")
    assert ds.vocab == ("<pad>", "<unk>", "a")


def test_missing_tab_names_file_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("pos\tfine\nno tab here\n", encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(f"{path}, line 2")):
        load_text_lines(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(str(path))) as info:
        load_text_lines(path)
    assert "empty" in str(info.value)


def test_bad_arguments(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("a\tb\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="max_length"):
        load_text_lines(path, max_length=0)
    with pytest.raises(ConfigError, match="vocab"):
        load_text_lines(path, vocab=("b", "<pad>"))
