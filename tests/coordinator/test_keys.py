"""coordinator.keys, called directly: which object keys, prefixes and content types are signed.

One fault per case, each with the exact message and code a client gets back (errors.py:
messages are returned verbatim). Limits are written out from their sources, not imported:
- key length 1,024 bytes (UTF-8): https://developers.cloudflare.com/r2/platform/limits/ ("Object
  key length: 1,024 bytes") and https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html
- dot segments, percent-encoded ones included: https://url.spec.whatwg.org/#double-dot-path-segment
  and RFC 3986 section 5.2.4; look-alike folding: UAX #15 (NFKC)
- media types: RFC 9110 section 8.3.1; Cache-Control: RFC 9111 section 5.2.
Pure functions: the whole module runs in well under a second.
"""

from __future__ import annotations

import unicodedata

import pytest

from coordinator.errors import InvalidInput
from coordinator.keys import (
    output_key,
    validate_cache_control,
    validate_content_type,
    validate_key,
    validate_prefix,
)

R2_MAX_KEY_BYTES = 1024  # R2 and S3 object key limit, in UTF-8 bytes (sources above)

NOT_A_PATH_SEGMENT = "contains a '.' or '..' segment (or a percent-encoded one)"


def _refusal(call, *args: object) -> tuple[str, str]:
    with pytest.raises(InvalidInput) as refused:
        call(*args)
    return refused.value.message, refused.value.code


# --- what a key may be ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "a",
        "videos/2026/film.mp4",
        "日本語/ファイル.mp4",  # titles in any script
        "Ελληνικά/σειρά 1.mov",
        "a..b/c.",  # dots inside a segment are a name, not a step up
        "...",
        ".a/b.",
        "%2e%2e%2e/x",  # three encoded dots are not a dot segment
        "a%2F..%2Fb",  # percent signs are literal characters
        "a b/c~d!e$&'()*+,;=@",
        "é\xa0x",  # U+00A0 NO-BREAK SPACE: the first code point after the C1 controls
        "é~",  # U+007E: the last before DEL
        "x\u2025y",  # TWO DOT LEADER folds to "x..y": one segment, not ".."
        "Chapter \u2169.mp4",  # ROMAN NUMERAL TEN folds to "X": a letter, not a slash
        "\u00bd-speed.mp4",  # VULGAR FRACTION ONE HALF: one glyph, no slash in what it shows
        "k" * R2_MAX_KEY_BYTES,
        "é" * (R2_MAX_KEY_BYTES // 2),  # 1,024 bytes in 512 characters
        "\U0001f600" * (R2_MAX_KEY_BYTES // 4),  # 1,024 bytes in 256 characters
    ],
)
def test_keys_that_are_accepted(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize("value", [None, 3, b"a", ["a"], ""])
def test_a_key_must_be_a_non_empty_string(value: object) -> None:
    assert _refusal(validate_key, value) == ("key must be a non-empty string", "invalid_key")


def test_a_key_that_is_not_utf8_is_refused() -> None:
    assert _refusal(validate_key, "a\ud800b") == ("key is not valid UTF-8", "invalid_key")


@pytest.mark.parametrize(
    "key",
    [
        "k" * (R2_MAX_KEY_BYTES + 1),
        "é" * 513,  # 513 characters, 1,026 bytes: the limit is in bytes
        "\U0001f600" * 256 + "k",  # 257 characters, 1,025 bytes
    ],
    ids=["ascii", "two-byte", "four-byte"],
)
def test_the_key_limit_is_1024_utf8_bytes(key: str) -> None:
    assert _refusal(validate_key, key) == ("key is longer than 1024 bytes", "invalid_key")


@pytest.mark.parametrize(
    "key",
    [
        "a\x00b",
        "a\x1fb",  # last C0
        "a\tb",
        "a\nb",
        "a\x7fb",  # DEL
        "é\x01",  # the non-ASCII path checks each character
        "é\x1f",
        "é\x7f",
        "é\x80",  # first C1
        "é\x85",  # NEXT LINE
        "é\x9f",  # last C1
    ],
)
def test_control_characters_are_refused(key: str) -> None:
    assert _refusal(validate_key, key) == ("key contains a control character", "invalid_key")


@pytest.mark.parametrize(
    "char",
    [
        # invisible format characters (Unicode category Cf)
        "\u202e",  # RIGHT-TO-LEFT OVERRIDE
        "\u2066",  # LEFT-TO-RIGHT ISOLATE
        "\u200b",  # ZERO WIDTH SPACE
        "\u200d",  # ZERO WIDTH JOINER
        "\u200e",  # LEFT-TO-RIGHT MARK
        "\ufeff",  # ZERO WIDTH NO-BREAK SPACE (BOM)
        "\u00ad",  # SOFT HYPHEN
        "\U000e0041",  # TAG LATIN CAPITAL LETTER A
        # confusables of SOLIDUS and REVERSE SOLIDUS (Unicode confusables.txt)
        "\u2044",  # FRACTION SLASH
        "\u2215",  # DIVISION SLASH
        "\u2216",  # SET MINUS
        "\u2571",  # BOX DRAWINGS LIGHT DIAGONAL UPPER RIGHT TO LOWER LEFT
        "\u2572",  # BOX DRAWINGS LIGHT DIAGONAL UPPER LEFT TO LOWER RIGHT
        "\u29f5",  # REVERSE SOLIDUS OPERATOR
        "\u29f8",  # BIG SOLIDUS
        "\u29f9",  # BIG REVERSE SOLIDUS
        "\ufe68",  # SMALL REVERSE SOLIDUS
        "\uff0f",  # FULLWIDTH SOLIDUS
        "\uff3c",  # FULLWIDTH REVERSE SOLIDUS
        # one glyph with a slash in it, whose NFKC form holds "/" (UnicodeData.txt <compat>)
        "\u2100",  # ACCOUNT OF: a/c
        "\u2101",  # ADDRESSED TO THE SUBJECT: a/s
        "\u2105",  # CARE OF: c/o
        "\u2106",  # CADA UNA: c/u
    ],
)
def test_invisible_and_slash_like_characters_are_refused_by_name(char: str) -> None:
    expected = (
        f"key contains U+{ord(char):04X} ({unicodedata.name(char)}), an invisible or slash-like "
        "character that makes a key read as another name"
    )
    assert _refusal(validate_key, f"seg{char}gnp.ts") == (expected, "invalid_key")


def test_the_first_spoofing_character_is_the_one_named() -> None:
    message, _ = _refusal(validate_key, "a\u2215b\u202ec")
    assert message.startswith("key contains U+2215 (DIVISION SLASH)")


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("a\\b", "contains a backslash"),
        ("/a", "starts with '/'"),
        ("a//b", "contains an empty segment ('//')"),
        (".", NOT_A_PATH_SEGMENT),
        ("..", NOT_A_PATH_SEGMENT),
        ("a/./b", NOT_A_PATH_SEGMENT),
        ("a/../b", NOT_A_PATH_SEGMENT),
        ("a/..", NOT_A_PATH_SEGMENT),
        ("../a", NOT_A_PATH_SEGMENT),
        ("%2e", NOT_A_PATH_SEGMENT),  # WHATWG: "%2e" is a single-dot segment
        ("a/%2E/b", NOT_A_PATH_SEGMENT),
        ("a/.%2e/b", NOT_A_PATH_SEGMENT),  # and these are double-dot segments
        ("a/%2e./b", NOT_A_PATH_SEGMENT),
        ("a/%2E%2e/b", NOT_A_PATH_SEGMENT),
        ("é/../b", NOT_A_PATH_SEGMENT),  # non-ASCII keys meet the same rules
        ("é\\b", "contains a backslash"),
    ],
)
def test_path_like_keys_are_refused_with_the_reason(key: str, problem: str) -> None:
    assert _refusal(validate_key, key) == (f"key {problem}", "invalid_key")


@pytest.mark.parametrize(
    "key",
    [
        "\u2025",  # TWO DOT LEADER -> ".."
        "a/\u2025/b",
        "a/\u2024/b",  # ONE DOT LEADER -> "."
        "a/\uff0e\uff0e/b",  # FULLWIDTH FULL STOP x2 -> ".."
        "\ufe52\ufe52/b",  # SMALL FULL STOP x2 -> ".."
    ],
)
def test_look_alikes_of_dot_segments_are_refused_once_folded(key: str) -> None:
    assert _refusal(validate_key, key) == (
        "key reads as a path with '..', '//' or '\\' once look-alikes are folded (NFKC)",
        "invalid_key",
    )


def test_an_object_key_does_not_end_in_a_slash() -> None:
    assert _refusal(validate_key, "dir/") == ("key ends with '/'", "invalid_key")


def test_messages_name_what_was_checked() -> None:
    assert _refusal(lambda v: validate_key(v, what="mezzanine key"), "") == (
        "mezzanine key must be a non-empty string",
        "invalid_key",
    )


# --- prefixes and output keys ---------------------------------------------------------------


def test_a_prefix_follows_the_key_rules_and_ends_in_a_slash() -> None:
    assert validate_prefix("jobs/1/") == "jobs/1/"
    assert validate_prefix("é/") == "é/"
    assert _refusal(validate_prefix, "jobs/1") == ("output_prefix must end with '/'", "invalid_key")
    assert _refusal(validate_prefix, "jobs/../1/") == (
        f"output_prefix {NOT_A_PATH_SEGMENT}",
        "invalid_key",
    )
    assert _refusal(validate_prefix, "") == (
        "output_prefix must be a non-empty string",
        "invalid_key",
    )


def test_an_output_key_is_the_prefix_plus_the_path() -> None:
    assert output_key("jobs/1/", "hls/index.m3u8") == "jobs/1/hls/index.m3u8"
    assert output_key("jobs/1/", "a%2F..%2Fb") == "jobs/1/a%2F..%2Fb"  # literal, confined


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("../x", f"path {NOT_A_PATH_SEGMENT}"),
        ("/x", "path starts with '/'"),
        ("dir/", "path ends with '/'"),
        ("", "path must be a non-empty string"),
    ],
)
def test_an_output_path_is_checked_as_a_path(path: str, message: str) -> None:
    assert _refusal(output_key, "jobs/1/", path) == (message, "invalid_key")


def test_an_output_key_is_refused_under_a_bad_prefix() -> None:
    assert _refusal(output_key, "jobs/1", "x") == (
        "output_prefix must end with '/'",
        "invalid_key",
    )


def test_the_whole_output_key_must_fit_1024_bytes() -> None:
    prefix = "p" * 1000 + "/"
    assert output_key(prefix, "k" * (R2_MAX_KEY_BYTES - len(prefix))) == prefix + "k" * 23
    assert _refusal(output_key, prefix, "k" * (R2_MAX_KEY_BYTES - len(prefix) + 1)) == (
        "output key is longer than 1024 bytes",
        "invalid_key",
    )


# --- content types --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "video/mp4",
        "application/vnd.apple.mpegurl",
        "application/dash+xml",
        "text/plain; charset=utf-8",
        "text/plain;charset=utf-8",
        "text/plain \t;\t charset=utf-8",  # OWS is spaces and tabs
        'video/mp4; codecs="avc1.64001f, mp4a.40.2"',  # a quoted-string with a comma
        'a/b; c="quoted \\" pair"',  # and a quoted-pair
        "a/b; c=d; e=f",
        "application/x-www-form-urlencoded",  # only the exact botocore default is unsignable
        "x/" + "y" * 253,  # 255 characters
    ],
)
def test_media_types_are_accepted(content_type: str) -> None:
    assert validate_content_type(content_type) == content_type


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        7,
        "",
        "video",
        "video/",
        "/mp4",
        "video/mp4 ",
        " video/mp4",
        "video/mp4;",
        "video/mp4; codecs",
        "video/mp4; codecs=",
        'video/mp4; codecs="unterminated',
        "video/mp4\r\nX-Injected: 1",
        "vidéo/mp4",
        "video/mp4; a=b c",
        "video/mp4, text/plain",
        "x/" + "y" * 254,  # 256 characters
    ],
)
def test_malformed_media_types_are_refused(content_type: object) -> None:
    assert _refusal(validate_content_type, content_type) == (
        "content_type must be a media type such as 'video/mp4' (RFC 9110 syntax)",
        "invalid_content_type",
    )


def test_the_form_default_that_botocore_drops_from_the_signature_is_refused() -> None:
    assert _refusal(validate_content_type, "application/x-www-form-urlencoded; charset=utf-8") == (
        "this content_type cannot be bound to a presigned URL; drop the charset parameter",
        "invalid_content_type",
    )


# --- Cache-Control (stored on the object, sent to every viewer) -----------------------------

CACHE_CONTROL_MESSAGE = (
    "cache_control must be a Cache-Control value such as 'public, max-age=31536000, immutable'"
    " (RFC 9111 syntax, at most 255 characters)"
)


@pytest.mark.parametrize(
    "value",
    [
        "no-cache",
        "public, max-age=31536000, immutable",
        "max-age=60 ,\ts-maxage=600",  # OWS on either side of the comma
        'private="Set-Cookie, Authorization"',  # a quoted-string with a comma inside
        'no-cache="a \\" b"',  # and a quoted-pair
        "x-" + "a" * 253,  # 255 characters
    ],
)
def test_cache_control_values_are_accepted(value: str) -> None:
    assert validate_cache_control(value) == value


@pytest.mark.parametrize(
    "value",
    [
        None,
        60,
        "",
        "public,",
        ",public",
        "public,,private",
        "max-age=",
        "max-age==1",
        'private="open',
        "max age=1",
        "public; max-age=1",
        "max-age=1\r\nX: y",
        "caf\u00e9",
        "x-" + "a" * 254,  # 256 characters
    ],
)
def test_malformed_cache_control_is_refused(value: object) -> None:
    assert _refusal(validate_cache_control, value) == (
        CACHE_CONTROL_MESSAGE,
        "invalid_cache_control",
    )
