"""Document bytes -> text: charset from BOM, HTTP header, XML prolog or <meta>; no mojibake."""

from __future__ import annotations

import codecs
import re

_META_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9._:-]+)""", re.IGNORECASE
)
_XML_ENCODING = re.compile(rb"""^<\?xml[^>]+encoding\s*=\s*["']([a-zA-Z0-9._:-]+)""")
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?([a-zA-Z0-9._:-]+)""", re.IGNORECASE)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
SNIFF_BYTES = 4096


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


def declared_charset(body: bytes, content_type: str | None = None) -> str | None:
    """The charset a document declares: BOM, then HTTP header, then XML prolog or <meta>."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            return name
    if content_type:
        header = _HEADER_CHARSET.search(content_type)
        if header and _known(header.group(1)):
            return _known(header.group(1))
    head = body[:SNIFF_BYTES]
    declared = _XML_ENCODING.match(head.lstrip()) or _META_CHARSET.search(head)
    return _known(declared.group(1)) if declared else None


def decode_document(body: bytes, content_type: str | None = None) -> str:
    """The text of an HTML or XML document.

    The declared charset is used when the bytes decode cleanly with it; a page that lies (says
    latin-1 but is UTF-8, as many Vietnamese CMSs do) falls back to UTF-8 when that decodes cleanly.
    """
    declared = declared_charset(body, content_type)
    candidates = [declared] if declared else []
    if "utf-8" not in candidates:
        candidates.append("utf-8")
    if declared and declared != "utf-8" and not declared.startswith(("utf-16", "utf-32")):
        # UTF-8 that decodes cleanly is almost never really a single-byte charset.
        try:
            return body.decode("utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError:
            pass
    for name in candidates:
        try:
            return body.decode(name).removeprefix("\ufeff")
        except (UnicodeDecodeError, LookupError):
            continue
    return body.decode(declared or "utf-8", errors="replace").removeprefix("\ufeff")
