"""Which object keys, prefixes and content types the coordinator will sign for.

Rules a key must follow before anything is signed for it:

* UTF-8, 1 to 1,024 bytes (R2's and S3's limit);
* no control characters (C0, DEL, C1): they break logs, XML listings and HTTP tooling;
* no backslash: Cloudflare's URL normalisation (and Windows tools) turn it into ``/``;
* no leading ``/``, no empty segment (``//``), no ``.`` or ``..`` segment: S3 keys are flat
  strings, but browsers, CDNs and SDKs normalise such paths, and a key that reads differently
  after normalisation could land outside its prefix. The percent-encoded spellings of a dot
  segment (``%2e``, ``.%2e``, ``%2e.``, ``%2e%2e``, any case) count too: the WHATWG URL parser
  treats them as dot segments when a player resolves a manifest's relative URL;
* no invisible format characters (Unicode category Cf: bidi overrides and isolates, zero-width
  spaces and joiners, the BOM, tag characters) and no slash look-alikes (fraction slash, division
  slash, fullwidth and big solidus, ..., and single glyphs with a slash in them such as U+2100
  ACCOUNT OF, ``a/c``): they stay inside the prefix, but make a key read as
  another name in listings, logs and consoles (``seg\u202egnp.ts`` shows as ``segpng.ts``,
  ``a\u2215b`` as a folder). Emoji written with a zero-width joiner are refused with them;
* none of those rules may break once Unicode look-alikes are folded (NFKC): U+2025 (two-dot
  leader) folds to ``..``, U+FF0F (fullwidth solidus) to ``/``, U+FF3C to a backslash. Other
  non-ASCII text (titles in any script) is fine;
* outputs are ``output_prefix + path``, strictly under the prefix, which itself follows the
  rules and ends in ``/``. Percent signs are otherwise literal characters (``..%2F`` is not
  ``../``); the signer encodes them, so they cannot climb out either.

References: https://developers.cloudflare.com/r2/platform/limits/ ,
https://developers.cloudflare.com/r2/objects/multipart-objects/ ,
https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html ,
https://developers.cloudflare.com/rules/normalization/ , RFC 3986 section 5.2.4,
https://url.spec.whatwg.org/#double-dot-path-segment , UAX #15 (NFKC).
"""

from __future__ import annotations

import re
import unicodedata

from .errors import InvalidInput

__all__ = [
    "MAX_KEY_BYTES",
    "output_key",
    "validate_cache_control",
    "validate_content_type",
    "validate_key",
    "validate_prefix",
]

MAX_KEY_BYTES = 1024  # R2's and S3's limit, in UTF-8 bytes
_MAX_CONTENT_TYPE = 255

# RFC 9110 media-type: type "/" subtype *( OWS ";" OWS parameter ), parameter values a token or
# a quoted-string. Anything else is refused rather than signed.
_TCHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[\t !#-\[\]-~]|\\[\t -~])*"'
_MEDIA_TYPE = re.compile(rf"{_TCHARS}/{_TCHARS}(?:[ \t]*;[ \t]*{_TCHARS}=(?:{_TCHARS}|{_QUOTED}))*")
# RFC 9111 5.2: Cache-Control = #cache-directive; cache-directive = token [ "=" ( token /
# quoted-string ) ]. The list is comma-separated with optional whitespace, no empty elements.
_DIRECTIVE = rf"{_TCHARS}(?:={_TCHARS}|={_QUOTED})?"
_CACHE_CONTROL = re.compile(rf"{_DIRECTIVE}(?:[ \t]*,[ \t]*{_DIRECTIVE})*")
_MAX_CACHE_CONTROL = 255
# botocore's presigner drops this exact value from the signature, so sigv4 refuses to sign it.
_UNSIGNABLE_CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"


def _is_control(ch: str) -> bool:
    code = ord(ch)
    return code < 0x20 or 0x7F <= code <= 0x9F


# Look-alikes of "/" and "\\" (Unicode's confusables for SOLIDUS and REVERSE SOLIDUS that are
# symbols, not letters of a script).
_SLASH_LIKE = frozenset("\u2044\u2215\u2216\u2571\u2572\u29f5\u29f8\u29f9\ufe68\uff0f\uff3c")


def _is_spoofing(ch: str) -> bool:
    return (
        ch in _SLASH_LIKE
        or unicodedata.category(ch) == "Cf"
        # One glyph that shows (and folds to) a slash: U+2100 ACCOUNT OF is "a/c", U+2105 CARE
        # OF "c/o".
        or (ch > "\x7f" and any(f in "/\\" for f in unicodedata.normalize("NFKC", ch)))
    )


def _check_key_text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{what} must be a non-empty string", code="invalid_key")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidInput(f"{what} is not valid UTF-8", code="invalid_key") from None
    if size > MAX_KEY_BYTES:
        raise InvalidInput(f"{what} is longer than {MAX_KEY_BYTES} bytes", code="invalid_key")
    # ASCII text (nearly every key) is checked in C: its only non-printable characters are
    # the controls 0x00-0x1F and 0x7F, and nothing invisible, slash-like or NFKC-foldable.
    ascii_text = value.isascii()
    if (not value.isprintable()) if ascii_text else any(_is_control(ch) for ch in value):
        raise InvalidInput(f"{what} contains a control character", code="invalid_key")
    spoof = None if ascii_text else next((ch for ch in value if _is_spoofing(ch)), None)
    if spoof is not None:
        raise InvalidInput(
            f"{what} contains U+{ord(spoof):04X} ({unicodedata.name(spoof, 'unnamed')}), an "
            "invisible or slash-like character that makes a key read as another name",
            code="invalid_key",
        )
    problem = _path_problem(value)
    if problem is None and not ascii_text:
        folded = unicodedata.normalize("NFKC", value)
        if folded != value and _path_problem(folded) is not None:
            problem = "reads as a path with '..', '//' or '\\' once look-alikes are folded (NFKC)"
    if problem is not None:
        raise InvalidInput(f"{what} {problem}", code="invalid_key")
    return value


# WHATWG URL: a single-dot segment is "." or "%2e", a double-dot one "..", ".%2e", "%2e." or
# "%2e%2e", ASCII case-insensitively.
_DOT_SEGMENTS = frozenset({".", "..", "%2e", ".%2e", "%2e.", "%2e%2e"})


def _path_problem(value: str) -> str | None:
    if "\\" in value:
        return "contains a backslash"
    if value.startswith("/"):
        return "starts with '/'"
    if "//" in value:
        return "contains an empty segment ('//')"
    if any(segment.lower() in _DOT_SEGMENTS for segment in value.split("/")):
        return "contains a '.' or '..' segment (or a percent-encoded one)"
    return None


def validate_key(value: object, *, what: str = "key") -> str:
    """``value`` if it is an acceptable object key (see the module docstring), else InvalidInput.

    An object key names an object, not a folder, so it does not end in ``/``.
    """
    key = _check_key_text(value, what)
    if key.endswith("/"):
        raise InvalidInput(f"{what} ends with '/'", code="invalid_key")
    return key


def validate_prefix(value: object, *, what: str = "output_prefix") -> str:
    """``value`` if it is an acceptable key prefix: the key rules, and ending in ``/``."""
    prefix = _check_key_text(value, what)
    if not prefix.endswith("/"):
        raise InvalidInput(f"{what} must end with '/'", code="invalid_key")
    return prefix


def output_key(prefix: str, path: object) -> str:
    """The object key for ``path`` under the job's ``prefix``, strictly inside it."""
    validate_prefix(prefix)
    relative = validate_key(path, what="path")
    key = validate_key(prefix + relative, what="output key")
    if not key.startswith(prefix) or len(key) <= len(prefix):  # belt and braces
        raise InvalidInput("path leaves the job's output prefix", code="out_of_prefix")
    return key


def validate_cache_control(value: object) -> str:
    """``value`` if it is a Cache-Control header value (RFC 9111 syntax, ASCII, <= 255 chars):
    it is stored on the object and sent to every viewer, so nothing else gets through."""
    if (
        not isinstance(value, str)
        or len(value) > _MAX_CACHE_CONTROL
        or _CACHE_CONTROL.fullmatch(value) is None
    ):
        raise InvalidInput(
            "cache_control must be a Cache-Control value such as 'public, max-age=31536000,"
            f" immutable' (RFC 9111 syntax, at most {_MAX_CACHE_CONTROL} characters)",
            code="invalid_cache_control",
        )
    return value


def validate_content_type(value: object) -> str:
    """``value`` if it is a media type we can sign as a header (RFC 9110 syntax, ASCII)."""
    if (
        not isinstance(value, str)
        or len(value) > _MAX_CONTENT_TYPE
        or _MEDIA_TYPE.fullmatch(value) is None
    ):
        raise InvalidInput(
            "content_type must be a media type such as 'video/mp4' (RFC 9110 syntax)",
            code="invalid_content_type",
        )
    if value == _UNSIGNABLE_CONTENT_TYPE:
        raise InvalidInput(
            "this content_type cannot be bound to a presigned URL; drop the charset parameter",
            code="invalid_content_type",
        )
    return value
