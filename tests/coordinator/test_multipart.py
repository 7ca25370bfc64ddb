"""coordinator.multipart, called directly: how an object is cut into parts, which parts a complete
may name, and the ETag the assembled object gets.

The limits are written out from their sources, not imported from the module:
- R2 (https://developers.cloudflare.com/r2/platform/limits/): "Maximum upload parts: 10,000";
  "The max upload size is 5 MiB less than 5 GiB, so 4.995 GiB" for one request and for one part
  of a multipart upload; "The object size limit is 5 GiB less than 5 TiB, so 4.995 TiB".
- S3 (https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html): part size 5 MiB to
  5 GiB, "no minimum size limit on the last part"; part numbers 1 to 10,000. R2's per-part
  maximum is the tighter of the two, so it is the one that applies.
- R2 needs every part but the last to be the same size, the last no larger
  (https://developers.cloudflare.com/r2/objects/multipart-objects/).
- The multipart ETag is the MD5 of the concatenated binary MD5s of the parts, "-", and the part
  count (S3 behaviour, which R2 mimics for uploads since 2023-06-21: same page).
"""

from __future__ import annotations

import hashlib
import random

import pytest

from coordinator.errors import Conflict, InvalidInput
from coordinator.multipart import (
    MultipartPlan,
    UploadedPart,
    check_stored_parts,
    checked_parts,
    multipart_etag,
    plan_multipart,
    validate_upload_id,
)

MiB = 1024**2
GiB = 1024**3
TiB = 1024**4
R2_MIN_PART = 5 * MiB  # every part but the last
R2_MAX_PART = 5 * GiB - 5 * MiB  # 5,363,466,240 bytes: "5 MiB less than 5 GiB"
R2_MAX_PARTS = 10_000
R2_MAX_OBJECT = 5 * TiB - 5 * GiB  # 5,492,189,429,760 bytes: "5 GiB less than 5 TiB"

SIZE_MESSAGE = "size must be an integer from 1 to 5492189429760 bytes (4.995 TiB)"


def _refusal(call, *args: object) -> tuple[str, str]:
    with pytest.raises(InvalidInput) as refused:
        call(*args)
    return refused.value.message, refused.value.code


def _assert_r2_accepts(plan: MultipartPlan) -> None:
    """The plan obeys every R2 rule, checked from the documented limits."""
    # Whole numbers of bytes and parts: they go into JSON answers and Content-Length headers.
    assert type(plan.part_size) is int and type(plan.part_count) is int
    assert 1 <= plan.part_count <= R2_MAX_PARTS
    assert plan.part_size * (plan.part_count - 1) + plan.part_length(plan.part_count) == plan.size
    assert R2_MIN_PART <= plan.part_size <= R2_MAX_PART
    assert plan.part_size % MiB == 0  # whole MiB
    assert 1 <= plan.part_length(plan.part_count) <= plan.part_size  # the last: no larger


# --- plan_multipart -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "part_size", "part_count", "last"),
    [
        (1, 5 * MiB, 1, 1),
        (5 * MiB, 5 * MiB, 1, 5 * MiB),
        (5 * MiB + 1, 5 * MiB, 2, 1),
        (12 * MiB, 5 * MiB, 3, 2 * MiB),
        # 10,000 parts of 5 MiB is the most the minimum part size carries...
        (R2_MAX_PARTS * 5 * MiB, 5 * MiB, R2_MAX_PARTS, 5 * MiB),
        # ...one byte more needs the next whole MiB: 6 MiB parts, 8,334 of them.
        (R2_MAX_PARTS * 5 * MiB + 1, 6 * MiB, 8334, 50_000 * MiB + 1 - 8333 * 6 * MiB),
        # 1 TiB: 10,000 parts of at least 109,951,162.78 bytes -> 105 MiB, 9,987 parts.
        (TiB, 105 * MiB, 9987, TiB - 9986 * 105 * MiB),
    ],
)
def test_plans_use_the_smallest_whole_mib_part_that_fits_10000_parts(
    size: int, part_size: int, part_count: int, last: int
) -> None:
    plan = plan_multipart(size)
    assert (plan.size, plan.part_size, plan.part_count) == (size, part_size, part_count)
    assert plan.part_length(part_count) == last
    _assert_r2_accepts(plan)


def test_the_largest_r2_object_fits_in_parts_r2_accepts() -> None:
    plan = plan_multipart(R2_MAX_OBJECT)
    # ceil(5,492,189,429,760 / 10,000) bytes = 523.78 MiB -> 524 MiB parts, 9,996 of them.
    assert (plan.part_size, plan.part_count) == (524 * MiB, 9996)
    _assert_r2_accepts(plan)


def test_sampled_sizes_all_make_plans_r2_accepts_with_no_smaller_part_size() -> None:
    rng = random.Random(17)
    sizes = [rng.randrange(1, R2_MAX_OBJECT + 1) for _ in range(300)]
    sizes += [rng.randrange(1, 60 * GiB) for _ in range(300)]
    for size in sizes:
        plan = plan_multipart(size)
        _assert_r2_accepts(plan)
        # The smallest: one MiB less would need more than 10,000 parts (or be under 5 MiB).
        smaller = plan.part_size - MiB
        assert smaller < R2_MIN_PART or -(-size // smaller) > R2_MAX_PARTS, size


@pytest.mark.parametrize("size", [0, -1, R2_MAX_OBJECT + 1, True, False, 1.0, "5", None])
def test_sizes_outside_r2s_object_limit_are_refused(size: object) -> None:
    assert _refusal(plan_multipart, size) == (SIZE_MESSAGE, "invalid_size")


def test_part_length_is_defined_for_parts_1_to_part_count_only() -> None:
    plan = plan_multipart(12 * MiB)
    assert [plan.part_length(n) for n in (1, 2, 3)] == [5 * MiB, 5 * MiB, 2 * MiB]
    for outside in (0, -1, 4):
        with pytest.raises(ValueError) as refused:
            plan.part_length(outside)
        assert str(refused.value) == f"part_number {outside} outside 1..3"


# --- multipart_etag -------------------------------------------------------------------------


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def test_the_multipart_etag_is_the_md5_of_the_part_md5s_and_the_count() -> None:
    parts = [b"a" * 100, b"b" * 50, b"c"]
    expected = _md5(b"".join(hashlib.md5(p, usedforsecurity=False).digest() for p in parts))
    etags = [_md5(p) for p in parts]
    assert multipart_etag(etags) == f"{expected}-3"
    # S3 and R2 return ETags quoted; either spelling, any hex case, gives the same answer.
    assert multipart_etag([f'"{e}"' for e in etags]) == f"{expected}-3"
    assert multipart_etag([e.upper() for e in etags]) == f"{expected}-3"
    # A single part still gets the multipart form.
    assert multipart_etag([_md5(b"x")]) == f"{_md5(bytes.fromhex(_md5(b'x')))}-1"


@pytest.mark.parametrize(
    "etag",
    [
        "0" * 31,
        "0" * 33,
        "g" * 32,
        f"{'0' * 32}-2",  # itself a multipart ETag: not an MD5 of the part
        f"X{'0' * 32}",  # stray characters around the hex
        f"{'0' * 32}X",
        "",
    ],
)
def test_no_multipart_etag_when_a_part_etag_is_not_an_md5(etag: str) -> None:
    assert multipart_etag([_md5(b"a"), etag]) is None


# --- checked_parts --------------------------------------------------------------------------


def _parts(count: int) -> list[dict[str, object]]:
    return [{"part_number": n, "etag": _md5(bytes([n]))} for n in range(1, count + 1)]


def test_checked_parts_returns_the_etags_in_order_quoted_as_s3_wants() -> None:
    parts = _parts(3)
    parts[1]["etag"] = f'"{parts[1]["etag"]}"'  # already quoted: not quoted twice
    assert checked_parts(parts, 3) == [f'"{_md5(bytes([n]))}"' for n in (1, 2, 3)]
    assert checked_parts([{"part_number": 1, "etag": "opaque-etag_1.x:y+z/="}], 1) == [
        '"opaque-etag_1.x:y+z/="'  # non-MD5 ETags (other S3 stores) pass through
    ]


@pytest.mark.parametrize(
    ("parts", "expected", "message"),
    [
        (None, 1, "parts must be a non-empty list"),
        ({"part_number": 1}, 1, "parts must be a non-empty list"),
        ([], 1, "parts must be a non-empty list"),
        (_parts(2), 3, "expected 3 parts for the declared size, got 2"),
        (_parts(4), 3, "expected 3 parts for the declared size, got 4"),
        ([*_parts(1), "etag"], 2, "each part must be an object"),
        (
            [{"part_number": 1, "etag": _md5(b"a"), "size": 5, "ETag": "x"}],
            1,
            "part 1 has unknown field(s): 'ETag', 'size'",
        ),
        (
            [{"part_number": 1, "etag": _md5(b"a"), **{f"f{n}": 0 for n in range(7)}}],
            1,
            "part 1 has unknown field(s): 'f0', 'f1', 'f2', 'f3', 'f4'",
        ),
        (
            [{"part_number": 1, "etag": _md5(b"a"), "x" * 100: 0}],
            1,
            f"part 1 has unknown field(s): '{'x' * 64}'",
        ),
        (
            [_parts(2)[1], _parts(2)[0]],
            2,
            "parts must be listed in order 1..2; position 1 has part_number 2",
        ),
        (
            [{"part_number": True, "etag": _md5(b"a")}],
            1,
            "parts must be listed in order 1..1; position 1 has part_number True",
        ),
        (
            [{"part_number": "1", "etag": _md5(b"a")}],
            1,
            "parts must be listed in order 1..1; position 1 has part_number '1'",
        ),
        (
            [{"etag": _md5(b"a")}],
            1,
            "parts must be listed in order 1..1; position 1 has part_number None",
        ),
        ([{"part_number": 1}], 1, "part 1 has a malformed etag"),
        ([{"part_number": 1, "etag": 5}], 1, "part 1 has a malformed etag"),
        ([{"part_number": 1, "etag": ""}], 1, "part 1 has a malformed etag"),
        ([{"part_number": 1, "etag": '""'}], 1, "part 1 has a malformed etag"),
        ([{"part_number": 1, "etag": "a b"}], 1, "part 1 has a malformed etag"),
        ([{"part_number": 1, "etag": "x" * 129}], 1, "part 1 has a malformed etag"),
        ([*_parts(1), {"part_number": 2, "etag": "a\nb"}], 2, "part 2 has a malformed etag"),
    ],
)
def test_checked_parts_refusals(parts: object, expected: int, message: str) -> None:
    assert _refusal(checked_parts, parts, expected) == (message, "invalid_parts")


def test_an_etag_of_128_characters_is_accepted() -> None:
    assert checked_parts([{"part_number": 1, "etag": "x" * 128}], 1) == [f'"{"x" * 128}"']


# --- validate_upload_id ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "upload_id",
    [
        # R2 and S3 hand out base64url-like ids, MinIO UUIDs (S3 promises no format).
        "2~iCw_lDY8VoXo1Nn7V1WpLHRsoHlnL9C7kyNcw3NO9YgT0yBkLM5ETV8YBEtbLkO",
        "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA--",
        "3b1c2e36-8f5f-4c2e-9a59-0d8f1b8a0b7e",
        "a.b=c+d",
        "x" * 1024,
    ],
)
def test_upload_ids_of_known_stores_are_accepted(upload_id: str) -> None:
    assert validate_upload_id(upload_id) == upload_id


@pytest.mark.parametrize(
    "upload_id", ["", "a/b", "a b", "a%2Fb", "x" * 1025, "é", "a\n", None, 5, ["a"]]
)
def test_malformed_upload_ids_are_refused(upload_id: object) -> None:
    assert _refusal(validate_upload_id, upload_id) == (
        "upload_id is malformed",
        "invalid_upload_id",
    )


# -- what the store holds, before a complete (issue 15: a truncated object must not complete) --

# The example: 12,587,233 bytes declared, three parts of 5 MiB, 5 MiB and the rest.
DECLARED = 12_587_233
LAST = DECLARED - 2 * 5 * MiB  # 2,101,473 bytes
ETAGS = ['"' + "a" * 32 + '"', '"' + "b" * 32 + '"', '"' + "c" * 32 + '"']


def _stored(*sizes: int, etags: list[str] = ETAGS) -> dict[int, UploadedPart]:
    return {
        n: UploadedPart(part_number=n, etag=etag, size=size)
        for n, (size, etag) in enumerate(zip(sizes, etags, strict=False), 1)
    }


def _conflict(stored: dict[int, UploadedPart], etags: list[str] = ETAGS) -> str:
    with pytest.raises(Conflict) as refused:
        check_stored_parts(plan_multipart(DECLARED), etags, stored)
    assert refused.value.code == "parts_mismatch"
    return refused.value.message


def test_the_parts_that_make_the_declared_size_pass() -> None:
    check_stored_parts(plan_multipart(DECLARED), ETAGS, _stored(5 * MiB, 5 * MiB, LAST))
    # The worker may quote its ETags or not; S3 lists them quoted.
    bare = [etag.strip('"') for etag in ETAGS]
    check_stored_parts(plan_multipart(DECLARED), bare, _stored(5 * MiB, 5 * MiB, LAST))


def test_a_one_byte_last_part_is_named_for_upload_again() -> None:
    assert _conflict(_stored(5 * MiB, 5 * MiB, 1)) == (
        "the stored parts do not make the declared 12587233 bytes: upload part(s) 3 (missing"
        " or of the wrong size)"
    )


def test_a_missing_part_and_a_long_part_are_named_in_order() -> None:
    stored = _stored(5 * MiB + 1, 5 * MiB, LAST)
    del stored[2]
    assert "upload part(s) 1, 2 (missing or of the wrong size)" in _conflict(stored)


def test_parts_beyond_the_plan_are_refused() -> None:
    stored = _stored(5 * MiB, 5 * MiB, LAST)
    stored[4] = UploadedPart(part_number=4, etag=ETAGS[0], size=1)
    assert _conflict(stored) == "the upload holds parts beyond the plan's 3: [4]"


def test_more_than_twenty_parts_to_upload_are_cut_with_an_ellipsis() -> None:
    size = 30 * 5 * MiB
    with pytest.raises(Conflict) as refused:
        check_stored_parts(plan_multipart(size), ["x"] * 30, {})
    shown = ", ".join(str(n) for n in range(1, 21))
    assert f"upload part(s) {shown} ... (missing" in refused.value.message


def test_an_etag_that_is_not_the_stored_parts_is_a_400_naming_it() -> None:
    given = [ETAGS[0], '"' + "f" * 32 + '"', ETAGS[2]]
    message, code = _refusal(
        check_stored_parts, plan_multipart(DECLARED), given, _stored(5 * MiB, 5 * MiB, LAST)
    )
    assert code == "invalid_parts"
    assert message == (
        "the etag given for part(s) 2 is not the stored part's: send the ETags the part uploads"
        " answered"
    )


@pytest.mark.parametrize(("missing", "ellipsis"), [(20, ""), (21, " ...")])
def test_at_most_twenty_parts_are_named_then_an_ellipsis(missing: int, ellipsis: str) -> None:
    plan = plan_multipart(missing * 5 * MiB)
    with pytest.raises(Conflict) as refused:
        check_stored_parts(plan, ["x"] * plan.part_count, {})
    shown = ", ".join(str(n) for n in range(1, 21))
    assert f"upload part(s) {shown}{ellipsis} (missing" in refused.value.message


def test_at_most_twenty_parts_beyond_the_plan_are_named() -> None:
    stored = _stored(5 * MiB, 5 * MiB, LAST)
    for n in range(4, 30):
        stored[n] = UploadedPart(part_number=n, etag=ETAGS[0], size=1)
    assert _conflict(stored).endswith(f": {list(range(4, 24))}")


@pytest.mark.parametrize(
    ("stored_etag", "given_etag"),
    [('"' + "a" * 31 + 'X"', '"' + "a" * 31 + '"'), ('"' + "a" * 31 + '"', '"' + "a" * 31 + 'X"')],
)
def test_only_the_quotes_around_an_etag_are_ignored(stored_etag: str, given_etag: str) -> None:
    stored = _stored(5 * MiB, 5 * MiB, LAST, etags=[stored_etag, *ETAGS[1:]])
    message, code = _refusal(
        check_stored_parts, plan_multipart(DECLARED), [given_etag, *ETAGS[1:]], stored
    )
    assert code == "invalid_parts" and message.startswith("the etag given for part(s) 1 is not")


def test_every_wrong_etag_is_named_up_to_twenty() -> None:
    plan = plan_multipart(25 * 5 * MiB)
    stored = {
        n: UploadedPart(part_number=n, etag=f'"{n:032x}"', size=plan.part_length(n))
        for n in range(1, 26)
    }
    message, _ = _refusal(check_stored_parts, plan, ['"' + "f" * 32 + '"'] * 25, stored)
    shown = ", ".join(str(n) for n in range(1, 21))
    assert message == (
        f"the etag given for part(s) {shown} is not the stored part's: send the ETags the part"
        " uploads answered"
    )
