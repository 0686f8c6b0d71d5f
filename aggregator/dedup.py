"""Title + body text -> Fingerprint, and whether two fingerprints are the same story.

Pure. The body fingerprint is a 64-bit SimHash over word shingles of the text folded to ASCII
(Charikar 2002): a story syndicated with small edits lands a few bits from the original, while
unrelated stories differ in about half the bits. Short texts get no SimHash (too few shingles to be
reliable); the normalized title is a second, exact signal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from hashlib import blake2b
from typing import Protocol

from aggregator.render import fold_ascii, fold_ascii_bytes

BITS = 64
SHINGLE_WORDS = 3
MIN_WORDS = 25
"""Fewer words than this give no SimHash: a handful of shingles is not a reliable signature."""
MIN_TITLE_WORDS = 6
"""Shorter titles ("Tin vắn", "Thời tiết hôm nay") are too common to identify a story."""
DEFAULT_MAX_DISTANCE = 6
"""Bits in which two SimHashes of one story may differ. Unrelated texts differ in about 32 bits,
so 6 is reached by chance about once in 10^10 pairs; a copy with a few words changed in each
paragraph lands within 5."""
_WORD = re.compile(r"[a-z0-9]+")
_WORD_BYTES = re.compile(rb"[a-z0-9]+")
_SIGN = 1 << (BITS - 1)
_HASHER = blake2b(digest_size=8)


def words(text: str) -> list[str]:
    """Lower-case ASCII words of a text, Vietnamese folded (Đà Nẵng -> da, nang)."""
    return _WORD.findall(fold_ascii(text).lower())


def simhash(text: str) -> int | None:
    """The 64-bit SimHash of a text's word shingles (unsigned), or None for a short text.

    Each shingle (three words joined by spaces) is hashed with 8-byte BLAKE2b, read big-endian;
    bit k of the SimHash is set when more than half of the shingles (repeats included) have it
    set. The values are stored in state files: any change to them must keep them the same.
    """
    tokens = _WORD_BYTES.findall(fold_ascii_bytes(text).lower())
    if len(tokens) < MIN_WORDS:
        return None
    # Shingles are hashed and their bits counted in C: the hashes packed into one bytes object,
    # byte p of every hash read as one integer, and each bit of those bytes counted at once.
    hashes = []
    for shingle in map(b" ".join, zip(*(tokens[i:] for i in range(SHINGLE_WORDS)), strict=False)):
        # Copying a keyed-up hasher skips blake2b's argument parsing: ~40% faster per shingle.
        hasher = _HASHER.copy()
        hasher.update(shingle)
        hashes.append(hasher.digest())
    packed = b"".join(hashes)
    total = len(packed) // 8
    ones = int.from_bytes(b"\x01" * total, "big")
    masks = [ones << bit for bit in range(8)]
    value = 0
    for position in range(8):
        column = int.from_bytes(packed[position::8], "big")
        shift = (7 - position) * 8
        for bit, mask in enumerate(masks):
            if 2 * (column & mask).bit_count() > total:
                value |= 1 << (shift + bit)
    return value


def distance(first: int, second: int) -> int:
    """Number of bits in which two SimHashes differ."""
    return ((first ^ second) & ((1 << BITS) - 1)).bit_count()


def to_signed(value: int) -> int:
    """An unsigned 64-bit SimHash as the signed integer SQLite stores."""
    return value - (1 << BITS) if value & _SIGN else value


def to_unsigned(value: int) -> int:
    """The inverse of to_signed."""
    return value & ((1 << BITS) - 1)


def title_key(title: str) -> str | None:
    """A title reduced to its folded words, or None when it is too short to identify a story."""
    tokens = words(title)
    return " ".join(tokens) if len(tokens) >= MIN_TITLE_WORDS else None


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What identifies a story's text: a SimHash of title and body, and the normalized title."""

    simhash: int | None
    title: str | None


def fingerprint(title: str, text: str) -> Fingerprint:
    """The fingerprint of an article's title and body text.

    The SimHash is of the body alone when it is long enough: syndicating sites often rewrite
    the headline and keep the text.
    """
    body = simhash(text)
    return Fingerprint(body if body is not None else simhash(f"{title}\n{text}"), title_key(title))


class Fingerprinted(Protocol):
    """A Fingerprint, or anything holding one's values (a stored one: its SimHash may be signed)."""

    @property
    def simhash(self) -> int | None: ...

    @property
    def title(self) -> str | None: ...


def same_story(
    first: Fingerprinted, second: Fingerprinted, max_distance: int = DEFAULT_MAX_DISTANCE
) -> str | None:
    """Why two fingerprints are one story ("title", "simhash distance N"), or None.

    SimHashes are compared on their 64 bits, so a signed one (as stored) may be given as it is.
    """
    if first.simhash is not None and second.simhash is not None:
        bits = distance(first.simhash, second.simhash)
        if bits <= max_distance:
            return f"simhash distance {bits}"
    if first.title is not None and first.title == second.title:
        return "same title"
    return None
