"""Document bytes -> text: charset from BOM, HTTP header, XML prolog or <meta>; no mojibake.

Order of trust: a BOM; then clean UTF-8 (Vietnamese CMSs often declare latin-1 and send UTF-8);
then the declared charsets (HTTP header, then XML prolog or <meta> in the first kilobytes) that
decode cleanly; then charset-normalizer's guess. A page declared as a Western single-byte charset
that is really Windows-1258 (legacy Vietnamese) is caught by asking the detector too.
"""

from __future__ import annotations

import codecs
import re
import unicodedata

import charset_normalizer

_META_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9._:-]+)""", re.IGNORECASE
)
_XML_ENCODING = re.compile(rb"""^<\?xml[^>]+encoding\s*=\s*["']([a-zA-Z0-9._:-]+)""")
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?([a-zA-Z0-9._:-]+)""", re.IGNORECASE)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
SNIFF_BYTES = 16 * 1024
"""How far into a document <meta charset> and the XML prolog are looked for."""
DETECT_BYTES = 64 * 1024
"""How much of a document charset-normalizer reads (it is slow on whole pages)."""
_WESTERN = frozenset({"cp1252", "iso8859-15", "latin-1", "iso8859-1"})
_WIDE = ("utf-16", "utf-32")


def _known(name: str | bytes | None) -> str | None:
    if not name:
        return None
    label = name.decode("ascii", "ignore") if isinstance(name, bytes) else name
    try:
        codec = codecs.lookup(label.strip().lower())
    except LookupError:
        return None
    # Browsers treat latin-1 and ascii labels as windows-1252 (WHATWG encoding standard).
    if codec.name in ("latin-1", "iso8859-1", "ascii"):
        return "cp1252"
    return codec.name


def _bom(body: bytes) -> str | None:
    for bom, name in _BOMS:
        if body.startswith(bom):
            return name
    return None


def _header(content_type: str | None) -> str | None:
    match = _HEADER_CHARSET.search(content_type) if content_type else None
    return _known(match.group(1)) if match else None


def _in_document(body: bytes) -> str | None:
    head = body[:SNIFF_BYTES]
    declared = _XML_ENCODING.match(head.lstrip()) or _META_CHARSET.search(head)
    return _known(declared.group(1)) if declared else None


def declared_charset(body: bytes, content_type: str | None = None) -> str | None:
    """The charset a document declares: BOM, then HTTP header, then XML prolog or <meta>."""
    return _bom(body) or _header(content_type) or _in_document(body)


def detect_charset(body: bytes) -> str | None:
    """charset-normalizer's best guess for bytes that declare nothing usable, or None."""
    best = charset_normalizer.from_bytes(body[:DETECT_BYTES]).best()
    return _known(best.encoding) if best is not None else None


def _decode(body: bytes, name: str) -> str | None:
    try:
        text = body.decode(name)
    except (UnicodeDecodeError, LookupError):
        return None
    if name == "cp1258":
        # Windows-1258 spells most Vietnamese letters as base + combining tone mark.
        text = unicodedata.normalize("NFC", text)
    return text.removeprefix("\ufeff")


def decode_document(body: bytes, content_type: str | None = None) -> str:
    """The text of an HTML or XML document, whatever it and its server claim (see module doc)."""
    bom = _bom(body)
    if bom:
        text = _decode(body, bom)
        if text is not None:
            return text
    declared = [name for name in (_header(content_type), _in_document(body)) if name]
    if not any(name.startswith(_WIDE) for name in declared):
        # UTF-8 that decodes cleanly is almost never really a single-byte charset.
        text = _decode(body, "utf-8")
        if text is not None:
            return text
    for name in declared:
        text = _decode(body, name)
        if text is None:
            continue
        if name in _WESTERN and detect_charset(body) == "cp1258":
            return _decode(body, "cp1258") or text
        return text
    guess = detect_charset(body)
    if guess:
        text = _decode(body, guess)
        if text is not None:
            return text
    fallback = declared[0] if declared else "cp1252"
    return body.decode(fallback, errors="replace").removeprefix("\ufeff")
