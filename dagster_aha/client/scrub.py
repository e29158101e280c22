"""Redaction of the API key in every form a server may echo it back.

A hostile or buggy server can return the key in an error body, escaped rather than byte for
byte: JSON-escaped (``\\/``, ``\\u00XX``, even doubly escaped), HTML entities (``&#47;``,
``&#x2F;``, ``&sol;``, ``&amp;#47;``), URL-encoded (``%2F``, ``%252F``, ``+`` for a space), as
UTF-16 (a NUL byte beside each character) or base64 (also of ``Bearer <key>``). Any mix of
these within one echo is matched too: one pattern accepts every encoding of every character.

:class:`Redactor` replaces each match with ``<redacted>``; anything that still decodes to the key
after that (a form not foreseen) is replaced as a whole. Every text the client keeps or shows
(response bodies it parses, error messages, body excerpts, log lines) passes through it.
"""

from __future__ import annotations

import base64
import html
import html.entities
import json
import re
from functools import lru_cache
from urllib.parse import unquote, unquote_plus

__all__ = ["ECHO_FORMS", "REDACTED", "Redactor", "encoded_forms"]

REDACTED = "<redacted>"
_WHOLE = "<redacted: the server's text contained the API key in an unrecognised encoding>"
#: Shortest key for which base64 needles are used (shorter ones would match ordinary text).
_MIN_B64 = 8

#: The echo forms the redactor recognises (also the hardening suite's list of forms tried).
ECHO_FORMS: tuple[str, ...] = (
    "plain",
    "json_slash",
    "json_unicode",
    "json_unicode_upper",
    "json_double_escaped",
    "html_decimal",
    "html_hex",
    "html_named",
    "html_double",
    "url",
    "url_lower",
    "url_plus_space",
    "url_double",
    "utf16_le",
    "utf16_be",
    "base64",
    "base64_bearer",
    "base64_urlsafe",
    "mixed",
)


@lru_cache(maxsize=1)
def _named_entities() -> dict[str, list[str]]:
    """Character -> the HTML entity names (without ``&``/``;``) that decode to it."""
    out: dict[str, list[str]] = {}
    for name, value in html.entities.html5.items():
        if len(value) == 1:
            out.setdefault(value, []).append(re.escape(name.rstrip(";")))
    return out


def _hex(text: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in text)


#: One or more backslashes, written so that the pattern's alternatives all begin with a literal:
#: ``re`` then finds candidate positions with a C scan for the first character's possible
#: first characters (``\\+`` would make it try the whole alternation at every position: 3x
#: slower on every response body).
_BACKSLASHES = r"\\\\*"


def _encoded_alternatives(ch: str) -> list[str]:
    """Patterns of every form of ``ch`` except the character itself."""
    cp = ord(ch)
    alts: list[str] = []
    # JSON (and JSON inside JSON): \uXXXX, \/ and friends, any number of backslashes
    if cp <= 0xFFFF:
        alts.append(_BACKSLASHES + "u" + _hex(f"{cp:04x}"))
    else:
        hi = 0xD800 + ((cp - 0x10000) >> 10)
        lo = 0xDC00 + ((cp - 0x10000) & 0x3FF)
        alts.append(_BACKSLASHES + "u" + _hex(f"{hi:04x}") + _BACKSLASHES + "u" + _hex(f"{lo:04x}"))
    if ch in "/\"\\'":
        alts.append(_BACKSLASHES + re.escape(ch))
    # HTML: &#47; &#x2f; &sol; (optionally &amp;-escaped again; the ';' may be missing)
    amp = r"&(?:amp;)*"
    alts.append(amp + r"#0*" + str(cp) + ";?")
    alts.append(amp + r"#[xX]0*" + _hex(f"{cp:x}") + ";?")
    names = _named_entities().get(ch)
    if names:
        alts.append(amp + "(?:" + "|".join(names) + ");?")
    # URL: %2F / %2f, %252F (double), '+' for a space; UTF-8 bytes of non-ASCII characters
    pct = "".join(r"%(?:25)*" + _hex(f"{b:02x}") for b in ch.encode("utf-8"))
    alts.append(pct)
    if ch == " ":
        alts.append(r"\+")
    return alts


def _char_pattern(ch: str) -> str:
    return "(?:" + "|".join([re.escape(ch), *_encoded_alternatives(ch)]) + ")"


def _b64_needles(key: str) -> list[str]:
    """Substrings of base64 texts that contain ``key`` at any of the 3 byte alignments."""
    needles: set[str] = set()
    for payload in (key.encode("utf-8"), f"Bearer {key}".encode()):
        for align in range(3):
            data = b"\0" * align + payload
            for encode in (base64.b64encode, base64.urlsafe_b64encode):
                text = encode(data).decode("ascii")
                bits_start = 8 * align
                bits_end = 8 * len(data)
                first = -(-bits_start // 6)  # first char whose 6 bits are all payload bits
                last = bits_end // 6  # chars [first, last) depend on payload bits only
                needle = text[first:last]
                if len(needle) >= _MIN_B64:
                    needles.add(needle)
    return sorted(needles, key=len, reverse=True)


def _decodings(text: str) -> list[str]:
    """``text`` decoded in each way (and a few two-step combinations) a server may encode."""
    out: list[str] = []
    nul_free = re.sub(r"\x00|\\+u0000", "", text)
    for t in {text, nul_free}:
        json_t = t
        for _ in range(3):  # unescape JSON layers
            json_t = _json_unescape(json_t)
            out.append(json_t)
        h = html.unescape(html.unescape(t))
        u = unquote(unquote(t))
        out.extend([t, h, u, unquote_plus(t), html.unescape(u), unquote(h)])
    return out


_JSON_U_RE = re.compile(r"\\u([0-9a-fA-F]{4})")
_JSON_ESC_RE = re.compile(r"\\([\"\\/'bfnrt])")
_JSON_SIMPLE = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _json_unescape(text: str) -> str:
    """One layer of JSON string escapes undone (lenient: works on any text)."""
    text = _JSON_U_RE.sub(lambda m: chr(int(m.group(1), 16)), text)
    text = _JSON_ESC_RE.sub(lambda m: _JSON_SIMPLE.get(m.group(1), m.group(1)), text)
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


class Redactor:
    """Replaces the key (and every encoded form of it) in texts and bytes."""

    def __init__(self, key: str) -> None:
        self._key = key
        # UTF-16: a NUL (raw or JSON-escaped) beside each character
        sep = r"(?:\x00|\\+u0000)?"
        self._pattern = re.compile(sep.join(_char_pattern(c) for c in key))
        # A match of the pattern is the key itself, or it holds an encoded form of one of the
        # key's characters or a UTF-16 separator, each of which begins with one of these
        # characters: a text with none of them (most response bodies; a C scan each) and
        # without the key cannot match, one with them is searched for those forms first
        self._markers = ("\\", "&", "%", "\x00", *(("+",) if " " in key else ()))
        hints = {a for c in set(key) for a in _encoded_alternatives(c)}
        self._hint = re.compile("|".join(sorted(hints | {r"\x00", _BACKSLASHES + "u0000"})))
        self._b64 = _b64_needles(key)
        self._key_bytes = key.encode("utf-8")
        self._key16 = [key.encode("utf-16-le"), key.encode("utf-16-be")]

    def text(self, value: str) -> str:
        """``value`` with every (encoded) occurrence of the key replaced by ``<redacted>``.

        For texts that are shown (messages, excerpts, log lines): a text that still decodes
        to the key afterwards is replaced as a whole.
        """
        if not value:
            return value
        value = self._replace(value)
        if self._still_there(value):
            return _WHOLE
        return value

    def _replace(self, value: str) -> str:
        if self._may_hold_key(value):
            value = self._pattern.sub(REDACTED, value)
        for needle in self._b64:
            if needle in value:
                value = value.replace(needle, REDACTED)
        return value

    def _may_hold_key(self, value: str) -> bool:
        """False only where :attr:`_pattern` cannot match ``value`` (see ``__init__``)."""
        if self._key in value:
            return True
        if not any(m in value for m in self._markers):
            return False
        return self._hint.search(value) is not None

    def bytes(self, data: bytes) -> bytes:
        """Redacted ``data`` (a response body, before it is parsed): every encoded form is
        replaced in place, so a JSON body stays JSON (``<redacted>`` needs no escaping)."""
        if not data:
            return data
        for k16 in self._key16:
            if k16 in data:
                data = data.replace(k16, REDACTED.encode())
        text = data.decode("utf-8", errors="surrogateescape")
        clean = self._replace(text)
        if clean == text:
            return data
        return clean.encode("utf-8", errors="surrogateescape")

    def _still_there(self, value: str) -> bool:
        key = self._key
        return any(key in t for t in _decodings(value))


def encoded_forms(key: str) -> dict[str, str]:
    """``key`` in each of :data:`ECHO_FORMS` (texts a hostile server could echo)."""

    def js_u(s: str, upper: bool = False) -> str:
        return "".join((f"\\u{ord(c):04X}" if upper else f"\\u{ord(c):04x}") for c in s)

    half = len(key) // 2
    b64 = base64.b64encode(key.encode()).decode()
    return {
        "plain": key,
        "json_slash": json.dumps(key).strip('"').replace("/", "\\/"),
        "json_unicode": js_u(key),
        "json_unicode_upper": js_u(key, upper=True),
        "json_double_escaped": json.dumps(json.dumps(key.replace("/", "\\/")))[1:-1],
        "html_decimal": "".join(f"&#{ord(c)};" for c in key),
        "html_hex": "".join(f"&#x{ord(c):x};" for c in key),
        "html_named": html.escape(key).replace("/", "&sol;").replace("-", "&#45;"),
        "html_double": "".join(f"&amp;#{ord(c)};" for c in key),
        "url": "".join(f"%{b:02X}" for b in key.encode()),
        "url_lower": "".join(f"%{b:02x}" for b in key.encode()),
        "url_plus_space": key.replace(" ", "+").replace("/", "%2F"),
        "url_double": "".join(f"%25{b:02X}" for b in key.encode()),
        "utf16_le": key.encode("utf-16-le").decode("latin-1"),
        "utf16_be": key.encode("utf-16-be").decode("latin-1"),
        "base64": b64,
        "base64_bearer": base64.b64encode(f"Bearer {key}".encode()).decode(),
        "base64_urlsafe": base64.urlsafe_b64encode(b"x" + key.encode()).decode(),
        "mixed": js_u(key[:half]) + "".join(f"%{b:02x}" for b in key[half:].encode()),
    }
