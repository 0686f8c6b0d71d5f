"""URL -> canonical URL: the one key an article is known by, whichever way it was linked.

Pure. `canonical_url` folds the variants a story is linked under (scheme and host case, default
ports, fragments, tracking parameters, trailing slashes, AMP and mobile hosts and paths) into one
URL; `same_site` says whether two URLs belong to one publisher. `join_url` resolves a link found
in a document, and `url_problem` says why a string is not an http(s) URL that can be requested:
urllib raises ValueError on `http://[oops/` or a port out of range, and these never do.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

TRACKING_PARAMETERS = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "oly_anon_id",
        "oly_enc_id",
        "vero_id",
        "spm",
        "ref_src",
        "ref_url",
        "zarsrc",
        "zacc",
    }
)
"""Query parameters that only say how a reader arrived (utm_* is matched by prefix)."""
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_")
_AMP_QUERY = {"amp": {"", "1", "true"}, "outputtype": {"amp"}, "output": {"amp"}}
_MOBILE_LABELS = ("m.", "mobile.", "amp.")
_AMP_PATH_END = re.compile(r"(?:/amp/?|\.amp)$", re.IGNORECASE)
_AMP_PATH_START = re.compile(r"^/amp(?=/)", re.IGNORECASE)
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Second-level labels under which a country's registrable names sit (báo.com.vn, x.gov.vn).
_SECOND_LEVEL = frozenset({"com", "net", "org", "gov", "edu", "ac", "co", "info", "biz", "int"})
# ASCII controls: HTTP clients refuse them in a URL (urlsplit already drops tab, CR and LF).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _is_ipv6(host: str) -> bool:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        return False
    return True


def url_problem(url: str) -> str | None:
    """Why `url` is not an absolute http(s) URL that can be requested, or None when it is one.

    "ftp://x" -> "only http and https URLs are fetched";
    "http://[oops/x" -> "not a valid URL (Invalid IPv6 URL)"; "http://e.com:99999/" likewise.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "only http and https URLs are fetched"
    if port == 0:
        return "not a valid URL (port 0)"
    if parts.netloc.rpartition("@")[2].startswith("[") and not _is_ipv6(parts.hostname):
        return f"not a valid URL (bad IPv6 address {parts.hostname!r})"  # e.g. [v1.x]
    if _CONTROL.search(url):
        return "not a valid URL (control character)"
    return None


def join_url(base: str, href: str) -> str | None:
    """`href` resolved against `base` (a document's URL or its <base href>), or None when the
    result is not a valid http(s) URL (mailto:, javascript:, http://[oops/, a port over 65535)."""
    try:
        url = urljoin(base, href.strip())
    except ValueError:  # a malformed base or href (urljoin splits both)
        return None
    return url if url_problem(url) is None else None


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMETERS or lowered.startswith(_TRACKING_PREFIXES)


def _is_amp_flag(name: str, value: str) -> bool:
    allowed = _AMP_QUERY.get(name.lower())
    return allowed is not None and value.lower() in allowed


def _host(hostname: str) -> str:
    host = hostname.lower().rstrip(".")
    for label in ("www.", *_MOBILE_LABELS):
        # Strip only when a real domain remains ("m.vn" stays as it is).
        if host.startswith(label) and host.count(".") >= 2:
            host = host[len(label) :]
            break
    return host


def canonical_url(url: str) -> str:
    """The canonical form of an http(s) URL; any other string is returned stripped.

    https://M.Example.vn:443/tin/a-1.amp?utm_source=x&b=2#top -> https://example.vn/tin/a-1?b=2.
    http and https are one scheme here: publishers serve the same article under both.
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return url
    host = _host(parts.hostname)
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    path = parts.path or "/"
    path = _AMP_PATH_START.sub("", path)
    path = _AMP_PATH_END.sub("", path) or "/"
    path = re.sub(r"/{2,}", "/", path)
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    query = [
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if not _is_tracking(name) and not _is_amp_flag(name, value)
    ]
    query.sort()
    return urlunsplit(("https", host, path, urlencode(query), ""))


def registrable_domain(hostname: str) -> str:
    """The publisher's domain: the last two labels, or three under com.vn-style suffixes."""
    host = hostname.lower().rstrip(".")
    if host.replace(".", "").isdigit() or ":" in host:
        return host  # an IP address is its own site
    labels = host.split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def same_site(first: str, second: str) -> bool:
    """True when two URLs are on the same publisher's site (sub-domains included)."""
    try:
        one = urlsplit(first).hostname
        two = urlsplit(second).hostname
    except ValueError:
        return False
    if not one or not two:
        return False
    return registrable_domain(one) == registrable_domain(two)
