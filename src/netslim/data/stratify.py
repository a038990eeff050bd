"""Label-stratified, seeded index selection shared by ``split``, ``load_mnist`` and ``calibration_subset``."""

from __future__ import annotations

import numpy as np


def allocate(counts: np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
    """Share ``total`` items among classes in proportion to ``counts``, never more than ``counts`` per class.

    Largest-remainder rounding; ties are broken by ``rng``, so the result is deterministic for a seeded generator.
    The returned per-class numbers sum exactly to ``min(total, counts.sum())``.
    """
    counts = np.asarray(counts, dtype=np.int64)
    available = int(counts.sum())
    total = min(int(total), available)
    if total <= 0 or available == 0:
        return np.zeros_like(counts)
    exact = counts * (total / available)
    taken = np.minimum(np.floor(exact).astype(np.int64), counts)
    remainder = exact - taken
    tie_break = rng.permutation(len(counts))
    order = sorted(range(len(counts)), key=lambda c: (-remainder[c], tie_break[c]))
    left = total - int(taken.sum())
    for c in order:
        if left == 0:
            break
        if taken[c] < counts[c]:
            taken[c] += 1
            left -= 1
    return taken


def stratified_partition(y: np.ndarray, sizes: list[int], seed: int) -> list[np.ndarray]:
    """Split the indices of ``y`` into ``len(sizes)`` label-stratified parts of the given sizes plus the rest.

    Returns ``len(sizes) + 1`` sorted index arrays: one per requested size (in order), then the remainder.
    Each part draws from every class in proportion to its frequency among the samples still unassigned.
    """
    rng = np.random.default_rng(seed)
    labels, inverse = np.unique(np.asarray(y), return_inverse=True)
    members = [rng.permutation(np.flatnonzero(inverse == k)) for k in range(len(labels))]
    remaining = np.array([len(m) for m in members], dtype=np.int64)
    taken_so_far = np.zeros_like(remaining)
    parts: list[np.ndarray] = []
    for size in sizes:
        per_class = allocate(remaining, size, rng)
        chosen = [m[start : start + n] for m, start, n in zip(members, taken_so_far, per_class, strict=True)]
        parts.append(np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64))
        taken_so_far += per_class
        remaining -= per_class
    rest = [m[start:] for m, start in zip(members, taken_so_far, strict=True)]
    parts.append(np.sort(np.concatenate(rest)) if rest else np.zeros(0, dtype=np.int64))
    return parts


def stratified_sample(y: np.ndarray, n: int, seed: int, *, at_least_one: bool) -> np.ndarray:
    """Pick ``n`` indices of ``y`` in proportion to class frequency, returned in a seeded shuffled order.

    With ``at_least_one`` and ``n`` at least the number of distinct labels, every label is represented.
    """
    rng = np.random.default_rng(seed)
    labels, inverse = np.unique(np.asarray(y), return_inverse=True)
    members = [rng.permutation(np.flatnonzero(inverse == k)) for k in range(len(labels))]
    counts = np.array([len(m) for m in members], dtype=np.int64)
    per_class = allocate(counts, n, rng)
    if at_least_one and n >= len(labels):
        for c in np.flatnonzero(per_class == 0):
            donor = int(np.argmax(per_class))  # holds >= 2 while a class is empty, since n >= number of labels
            per_class[donor] -= 1
            per_class[c] += 1
    chosen = [m[:k] for m, k in zip(members, per_class, strict=True)]
    return rng.permutation(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)
