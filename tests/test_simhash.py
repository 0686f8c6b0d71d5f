"""The fast SimHash and word folding of aggregator.dedup give exactly the values of the plain
definition (Vietnamese folded by `fold_ascii`, shingles counted, 64 signed sums per shingle): the
fingerprints are stored in state files, so a faster implementation must not change one bit."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter

from hypothesis import example, given, settings
from hypothesis import strategies as st

from aggregator.dedup import MIN_WORDS, fingerprint, simhash, words
from aggregator.extraction import extract
from aggregator.render import fold_ascii
from tests.conftest import article_pages

_WORD = re.compile(r"[a-z0-9]+")


def reference_fold(text: str) -> str:
    """fold_ascii as first written: marks dropped one by one, then what is not ASCII."""
    decomposed = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    kept = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return kept.encode("ascii", "ignore").decode("ascii")


def reference_words(text: str) -> list[str]:
    return _WORD.findall(reference_fold(text).lower())


def test_fold_ascii_is_the_first_definition_for_every_character() -> None:
    # Surrogates included: a page decoded with errors may hold lone ones.
    every = [chr(code) for code in range(0x110000)]
    assert [fold_ascii(ch) for ch in every] == [reference_fold(ch) for ch in every]


@given(st.text())
def test_fold_ascii_is_the_first_definition_for_any_text(text: str) -> None:
    assert fold_ascii(text) == reference_fold(text)


def reference_simhash(text: str) -> int | None:
    """SimHash as first written: each shingle's weight added or taken away bit by bit."""
    tokens = reference_words(text)
    if len(tokens) < MIN_WORDS:
        return None
    shingles = Counter(" ".join(tokens[i : i + 3]) for i in range(len(tokens) - 2))
    weights = [0] * 64
    for shingle, count in shingles.items():
        value = int.from_bytes(hashlib.blake2b(shingle.encode(), digest_size=8).digest(), "big")
        for bit in range(64):
            weights[bit] += count if value >> bit & 1 else -count
    return sum(1 << bit for bit, weight in enumerate(weights) if weight > 0)


def test_simhash_of_real_articles_is_the_reference_value() -> None:
    checked = 0
    for url, body in article_pages().items():
        article = extract(body, url)
        for text in (article.text, f"{article.title}\n{article.text}", article.text[:300]):
            assert words(text) == reference_words(text)
            assert simhash(text) == reference_simhash(text)
            checked += simhash(text) is not None
        long_body = fingerprint(article.title or "", article.text).simhash
        assert long_body == reference_simhash(article.text)
    assert checked >= 3


# Vietnamese letters in both normal forms, compatibility characters (ligatures, circled and
# full-width forms), combining marks alone, other scripts, a lone surrogate, and word breaks.
_LETTERS = "aăâbcdđĐeêioôơuưyÁẮẶẤỆỄƠỚỰ" + "a\u0306\u0301" + "ﬁ①²Ⅻǅİß가ｱ\u0301\u0308\ud800"
letters_and_breaks = st.text(alphabet=_LETTERS + "0123456789 \n.,-", max_size=400)
few_words = st.lists(
    st.sampled_from(["Đà", "Nẵng", "nang", "a", "b", "x1", "ﬁn", "ĐÀ", "Ồ"]), max_size=200
).map(" ".join)


@settings(max_examples=300, deadline=None, database=None)
@given(st.one_of(letters_and_breaks, few_words, st.text(max_size=300)))
@example("Đà Nẵng " * 40)
@example(" ".join(f"w{i}" for i in range(MIN_WORDS)))
@example(" ".join(f"w{i}" for i in range(MIN_WORDS - 1)))
def test_simhash_of_any_text_is_the_reference_value(text: str) -> None:
    assert words(text) == reference_words(text)
    assert simhash(text) == reference_simhash(text)
