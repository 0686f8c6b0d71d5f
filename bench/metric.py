"""Body-text metric of the ScrapingHub (Zyte) article-extraction benchmark.

Definition (see /work/shared/corpus/scrapinghub/README.md):

1. Tokens are Unicode word runs (``\\w+``), no lowercasing, no stemming.
2. A text becomes a multiset of overlapping 4-token shingles; a text of 1 to 3 tokens is one
   shorter shingle, an empty text has none.
3. Per page: TP = sum of min(true count, predicted count) over shingles, FP = predicted surplus,
   FN = true surplus; the three are scaled to sum to 1 so that long pages weigh no more than
   short ones.
4. Per-page precision TP/(TP+FP) and recall TP/(TP+FN); both are 1 when FP = FN = 0 and 0 when
   the denominator is 0.
5. Precision is averaged over pages with a non-empty prediction, recall over pages with a
   non-empty truth; F1 is the harmonic mean of the two averages.
6. Accuracy is the share of pages whose token sequence equals the truth exactly.

Everything here is pure: no I/O, no global state.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SHINGLE_SIZE = 4
_TOKEN = re.compile(r"\w+")


def tokenize(text: str | None) -> list[str]:
    """Return the ``\\w+`` tokens of ``text`` (empty list for ``None``)."""
    return _TOKEN.findall(text or "")


def shingles(text: str | None, size: int = SHINGLE_SIZE) -> Counter[tuple[str, ...]]:
    """Return the multiset of ``size``-token shingles of ``text``.

    A text shorter than ``size`` tokens (but not empty) yields one shorter shingle.
    """
    tokens = tokenize(text)
    if not tokens:
        return Counter()
    last = max(1, len(tokens) - size + 1)
    return Counter(tuple(tokens[i : i + size]) for i in range(last))


@dataclass(frozen=True, slots=True)
class PageScore:
    """Scaled shingle counts of one page (``tp + fp + fn`` is 1, or all are 0) and exact match."""

    tp: float
    fp: float
    fn: float
    exact: bool

    @property
    def has_prediction(self) -> bool:
        """True when the prediction has at least one token."""
        return self.tp + self.fp > 0

    @property
    def has_truth(self) -> bool:
        """True when the truth has at least one token."""
        return self.tp + self.fn > 0

    @property
    def precision(self) -> float:
        """Per-page precision (1 when FP = FN = 0, 0 when TP + FP = 0)."""
        return self._share_correct(self.fp)

    @property
    def recall(self) -> float:
        """Per-page recall (1 when FP = FN = 0, 0 when TP + FN = 0)."""
        return self._share_correct(self.fn)

    def _share_correct(self, errors: float) -> float:
        """TP / (TP + errors): precision with the FP, recall with the FN (step 4)."""
        if self.fp == 0 and self.fn == 0:
            return 1.0
        denominator = self.tp + errors
        return self.tp / denominator if denominator > 0 else 0.0

    @property
    def f1(self) -> float:
        """Per-page F1 (only for ranking pages; the corpus F1 is not a mean of these)."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else 0.0


@dataclass(frozen=True, slots=True)
class CorpusScore:
    """Corpus-level scores; a value is ``None`` when no page qualifies for its average."""

    precision: float | None
    recall: float | None
    f1: float | None
    accuracy: float | None
    pages: int


def score_page(truth: str | None, prediction: str | None) -> PageScore:
    """Score one page's predicted body text against its true body text."""
    true_counts = shingles(truth)
    pred_counts = shingles(prediction)
    tp = fp = fn = 0
    for key in true_counts.keys() | pred_counts.keys():
        t, p = true_counts[key], pred_counts[key]
        tp += min(t, p)
        fp += max(0, p - t)
        fn += max(0, t - p)
    total = tp + fp + fn
    exact = tokenize(truth) == tokenize(prediction)
    if total == 0:
        return PageScore(0.0, 0.0, 0.0, exact)
    return PageScore(tp / total, fp / total, fn / total, exact)


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def aggregate(pages: Iterable[PageScore]) -> CorpusScore:
    """Combine per-page scores into corpus precision, recall, F1 and accuracy."""
    scores = list(pages)
    precision = _mean([s.precision for s in scores if s.has_prediction])
    recall = _mean([s.recall for s in scores if s.has_truth])
    f1: float | None = None
    if precision is not None and recall is not None:
        total = precision + recall
        f1 = 2 * precision * recall / total if total > 0 else 0.0
    accuracy = _mean([1.0 if s.exact else 0.0 for s in scores])
    return CorpusScore(precision, recall, f1, accuracy, len(scores))


def evaluate(pairs: Iterable[tuple[str | None, str | None]]) -> CorpusScore:
    """Score ``(truth, prediction)`` pairs and aggregate them (the whole metric in one call)."""
    return aggregate(score_page(truth, prediction) for truth, prediction in pairs)
