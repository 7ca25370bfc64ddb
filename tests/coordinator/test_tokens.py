"""Worker tokens: what verifies, and every way a token must not."""

from __future__ import annotations

import base64
import hmac
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from coordinator.errors import OutOfScope, Unauthenticated
from coordinator.tokens import (
    AUDIENCE,
    ISSUER,
    MAX_TOKEN_CHARS,
    VERIFIED_TOKENS,
    JobScope,
    TokenCodec,
    is_job_id,
    new_job_id,
)

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
OLD_SECRET = "o" * 32
NEW_SECRET = "n" * 64  # long enough for the HS512 case too


def scope(job_id: str = "job-a", *, lifetime: timedelta = timedelta(hours=1)) -> JobScope:
    return JobScope(
        job_id=job_id,
        mezzanine_keys=("masters/a.mov",),
        output_prefix="out/job-a/",
        issued_at=NOW,
        expires_at=NOW + lifetime,
    )


@pytest.fixture
def codec() -> TokenCodec:
    return TokenCodec({"old": OLD_SECRET, "new": NEW_SECRET}, signing_kid="new")


def _b64(data: dict[str, object]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _claims(**changes: object) -> dict[str, object]:
    claims: dict[str, object] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "job-a",
        "iat": int(NOW.timestamp()),
        "exp": int((NOW + timedelta(hours=1)).timestamp()),
        "mezzanine_keys": ["masters/a.mov"],
        "output_prefix": "out/job-a/",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _mint(secret: str, *, kid: str | None = "new", alg: str = "HS256", **changes: object) -> str:
    headers = {} if kid is None else {"kid": kid}
    return jwt.encode(_claims(**changes), secret, algorithm=alg, headers=headers)


def test_issued_token_verifies_to_the_same_scope(codec: TokenCodec) -> None:
    token = codec.issue(scope())
    assert codec.verify(token, now=NOW + timedelta(minutes=5), job_id="job-a") == scope()
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "kid": "new", "typ": "JWT"}


def test_token_signed_with_the_previous_key_still_verifies_after_rotation() -> None:
    before = TokenCodec({"old": OLD_SECRET}, signing_kid="old")
    after = TokenCodec({"old": OLD_SECRET, "new": NEW_SECRET}, signing_kid="new")
    token = before.issue(scope())
    assert after.verify(token, now=NOW).job_id == "job-a"
    retired = TokenCodec({"new": NEW_SECRET}, signing_kid="new")
    with pytest.raises(Unauthenticated, match="key id is unknown"):
        retired.verify(token, now=NOW)


def test_expired_token_is_refused_at_the_injected_clock(codec: TokenCodec) -> None:
    token = codec.issue(scope(lifetime=timedelta(seconds=30)))
    assert codec.verify(token, now=NOW + timedelta(seconds=29)).job_id == "job-a"
    with pytest.raises(Unauthenticated) as refused:
        codec.verify(token, now=NOW + timedelta(seconds=30))
    assert (refused.value.message, refused.value.code) == ("token expired", "token_expired")


def test_token_for_another_job_is_out_of_scope(codec: TokenCodec) -> None:
    token = codec.issue(scope("job-a"))
    with pytest.raises(OutOfScope) as refused:
        codec.verify(token, now=NOW, job_id="job-b")
    assert (refused.value.message, refused.value.code) == ("token is for another job", "wrong_job")
    assert codec.verify(token, now=NOW, job_id="job-a").job_id == "job-a"


def test_token_issued_in_the_future_is_refused(codec: TokenCodec) -> None:
    token = _mint(NEW_SECRET, iat=int((NOW + timedelta(minutes=10)).timestamp()))
    with pytest.raises(Unauthenticated) as refused:
        codec.verify(token, now=NOW)
    assert (refused.value.message, refused.value.code) == (
        "token issued in the future",
        "invalid_token",
    )


def test_iat_and_nbf_tolerate_exactly_60_seconds_of_clock_drift(codec: TokenCodec) -> None:
    """Lambda clocks drift a little (tokens.IAT_LEEWAY): an iat or nbf up to 60 s ahead of the
    verifier's clock is accepted, one second more is not."""
    at = int(NOW.timestamp())
    assert codec.verify(_mint(NEW_SECRET, iat=at + 60), now=NOW).job_id == "job-a"
    assert codec.verify(_mint(NEW_SECRET, nbf=at + 60), now=NOW).job_id == "job-a"
    with pytest.raises(Unauthenticated, match=r"^token issued in the future$"):
        codec.verify(_mint(NEW_SECRET, iat=at + 61), now=NOW)
    with pytest.raises(Unauthenticated, match=r"^token is not valid yet \(nbf\)$"):
        codec.verify(_mint(NEW_SECRET, nbf=at + 61), now=NOW)


def test_tampered_payload_is_refused(codec: TokenCodec) -> None:
    header, _, signature = codec.issue(scope()).split(".")
    widened = _b64(_claims(output_prefix="", sub="job-a"))
    with pytest.raises(Unauthenticated, match="signature"):
        codec.verify(f"{header}.{widened}.{signature}", now=NOW)


def _jws(payload: bytes, kid: object = "new") -> str:
    """A JWS over raw ``payload`` bytes, its header naming ``kid`` (any JSON value), signed
    with the new key (RFC 7515: HMAC-SHA256 over header.payload)."""
    header = _b64({"alg": "HS256", "kid": kid, "typ": "JWT"})
    body = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    mac = hmac.digest(NEW_SECRET.encode(), f"{header}.{body}".encode(), "sha256")
    return f"{header}.{body}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


# Each refusal states one fault and the exact words a client gets back (errors.py: messages
# are returned verbatim), with the stable code "invalid_token".
@pytest.mark.parametrize(
    ("token_of", "message"),
    [
        (lambda: _mint(NEW_SECRET, kid=None), "token has no key id"),
        (lambda: _jws(json.dumps(_claims()).encode(), kid=7), "malformed token"),
        (lambda: _mint(NEW_SECRET, kid="someone-else"), "token key id is unknown"),
        (lambda: _mint("x" * 32), "token signature does not verify"),
        (lambda: _mint(NEW_SECRET, aud="another-service"), "token is for another audience"),
        (lambda: _mint(NEW_SECRET, iss="another-coordinator"), "token is from another issuer"),
        (lambda: _mint(NEW_SECRET, alg="HS512"), "token algorithm not allowed"),
        (lambda: _mint(NEW_SECRET, exp=None), "token lacks a required claim"),
        (lambda: _mint(NEW_SECRET, mezzanine_keys="masters/a.mov"), "token scope is malformed"),
        (lambda: _mint(NEW_SECRET, mezzanine_keys=[]), "token scope is malformed"),
        (lambda: _mint(NEW_SECRET, mezzanine_keys=["k"] * 17), "token scope is malformed"),
        (lambda: _mint(NEW_SECRET, mezzanine_keys=[1]), "token scope is malformed"),
        (lambda: _mint(NEW_SECRET, output_prefix=5), "token scope is malformed"),
        (lambda: _mint(NEW_SECRET, sub="../job"), "token job id is malformed"),
        (lambda: _mint(NEW_SECRET, exp=True), "token times are malformed"),
        (lambda: _mint(NEW_SECRET, iat="2026-03-01"), "token times are malformed"),
        # A NumericDate far past year 9999: datetime cannot hold it.
        (lambda: _mint(NEW_SECRET, exp=10**20), "token times are malformed"),
        # A good header and signature over a payload that is not JSON: PyJWT's DecodeError.
        (lambda: _jws(b"not json"), "malformed token"),
        (lambda: "not-a-jwt", "malformed token"),
        (lambda: "", "malformed token"),
        (lambda: "a." * 5000, "malformed token"),
        (lambda: None, "malformed token"),
        (lambda: 12345, "malformed token"),
    ],
    ids=[
        "missing-kid",
        "kid-not-a-string",
        "unknown-kid",
        "wrong-key",
        "wrong-audience",
        "wrong-issuer",
        "other-hmac-alg",
        "missing-exp",
        "keys-not-a-list",
        "no-keys",
        "17-keys",
        "key-not-a-string",
        "prefix-not-a-string",
        "bad-job-id",
        "bool-exp",
        "string-iat",
        "exp-beyond-datetime",
        "payload-not-json",
        "garbage",
        "empty",
        "oversized",
        "none",
        "an-int",
    ],
)
def test_bad_tokens_are_unauthenticated(codec: TokenCodec, token_of, message: str) -> None:
    with pytest.raises(Unauthenticated) as refused:
        codec.verify(token_of(), now=NOW)
    assert (refused.value.message, refused.value.code) == (message, "invalid_token")


def test_alg_none_is_refused(codec: TokenCodec) -> None:
    unsigned = f"{_b64({'alg': 'none', 'kid': 'new', 'typ': 'JWT'})}.{_b64(_claims())}."
    with pytest.raises(Unauthenticated) as refused:
        codec.verify(unsigned, now=NOW)
    assert (refused.value.message, refused.value.code) == (
        "token algorithm not allowed",
        "invalid_token",
    )


def test_short_or_missing_keys_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match=r"^at least one token key is needed$"):
        TokenCodec({}, signing_kid="k")
    with pytest.raises(ValueError, match="at least 32 bytes"):
        TokenCodec({"k": "short"}, signing_kid="k")
    with pytest.raises(ValueError, match="at least 32 bytes"):
        TokenCodec({"k": b"k" * 31}, signing_kid="k")
    with pytest.raises(ValueError, match="not among"):
        TokenCodec({"k": "k" * 32}, signing_kid="other")
    with pytest.raises(ValueError, match="key id"):
        TokenCodec({"bad kid!": "k" * 32}, signing_kid="bad kid!")


def test_repr_shows_key_ids_not_secrets(codec: TokenCodec) -> None:
    shown = repr(codec)
    assert "old" in shown and "new" in shown
    assert OLD_SECRET not in shown and NEW_SECRET not in shown


def test_job_ids_are_fresh_and_url_safe() -> None:
    ids = {new_job_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(is_job_id(i) for i in ids)
    assert not is_job_id("a/b") and not is_job_id("") and not is_job_id("-lead")


def test_a_token_whose_nbf_is_ahead_of_the_clock_is_refused(codec: TokenCodec) -> None:
    """RFC 7519 4.1.5: a token MUST NOT be accepted before its nbf. We never set it; a control
    plane that mints its own tokens may, and PyJWT's check was off (it reads the wall clock)."""
    later = int((NOW + timedelta(minutes=10)).timestamp())
    with pytest.raises(Unauthenticated) as refused:
        codec.verify(_mint(NEW_SECRET, nbf=later), now=NOW)
    assert (refused.value.message, refused.value.code) == (
        "token is not valid yet (nbf)",
        "token_not_yet_valid",
    )
    # The same token verifies once its time has come, and a past nbf is no obstacle.
    assert codec.verify(_mint(NEW_SECRET, nbf=later), now=NOW + timedelta(minutes=10)).job_id
    assert codec.verify(_mint(NEW_SECRET, nbf=int(NOW.timestamp()) - 60), now=NOW).job_id
    for not_a_date in ("soon", True, 1.5):
        with pytest.raises(Unauthenticated) as refused:
            codec.verify(_mint(NEW_SECRET, nbf=not_a_date), now=NOW)
        assert (refused.value.message, refused.value.code) == (
            "token nbf is not a NumericDate",
            "invalid_token",
        )


def test_remembered_tokens_still_meet_every_clock_check_and_failures_repeat(
    codec: TokenCodec,
) -> None:
    """verify() remembers what a token decoded to (issue 15: speed); the clock is not cached."""
    token = codec.issue(scope(lifetime=timedelta(seconds=30)))
    for _ in range(2):
        assert codec.verify(token, now=NOW).job_id == "job-a"
        with pytest.raises(Unauthenticated) as refused:
            codec.verify(token, now=NOW + timedelta(seconds=30))
        assert refused.value.code == "token_expired"
        with pytest.raises(OutOfScope):
            codec.verify(token, now=NOW, job_id="job-b")
    header, payload, signature = token.split(".")
    for _ in range(2):
        with pytest.raises(Unauthenticated, match="signature"):
            codec.verify(f"{header}.{payload}.{signature[:-2]}AA", now=NOW)
    with pytest.raises(Unauthenticated, match="key id is unknown"):
        TokenCodec({"old": OLD_SECRET}, signing_kid="old").verify(token, now=NOW)


def test_issue_refuses_a_bad_job_id_and_naive_times_with_the_reason(codec: TokenCodec) -> None:
    with pytest.raises(ValueError, match=r"^invalid job id '../x'$"):
        codec.issue(scope("../x"))
    naive = JobScope("job-a", ("m",), "out/", NOW.replace(tzinfo=None), NOW + timedelta(hours=1))
    with pytest.raises(ValueError, match=r"^datetimes must be timezone-aware$"):
        codec.issue(naive)


@pytest.mark.parametrize("secret", [NEW_SECRET, "W" * 33, "clé-secrète-" * 3])
def test_the_hmac_key_is_exactly_the_secret_bytes(secret: str) -> None:
    """Any control plane holding the secret can mint and read tokens (module docstring): the
    HS256 key is the secret's UTF-8 bytes, as plain PyJWT uses them, whether it is given as text
    or bytes. ("W" * 33 encodes to base64url ending in "X": no character may be lost when the
    secret is wrapped as a JWK.)"""
    for given in (secret, secret.encode("utf-8")):
        codec = TokenCodec({"k": given}, signing_kid="k")
        token = codec.issue(scope())
        claims = jwt.decode(
            token, secret.encode("utf-8"), algorithms=["HS256"], audience=AUDIENCE,
            options={"verify_exp": False, "verify_iat": False},
        )  # fmt: skip
        assert claims["sub"] == "job-a"
        minted = jwt.encode(_claims(), secret.encode("utf-8"), "HS256", headers={"kid": "k"})
        assert codec.verify(minted, now=NOW) == scope()


def test_the_injected_clock_is_the_only_clock(codec: TokenCodec) -> None:
    """A token issued and verified at a time far from the wall clock (year 2100) verifies: no
    check (exp, iat, nbf) reads the machine's time."""
    future = datetime(2100, 1, 1, tzinfo=UTC)
    token = codec.issue(
        JobScope("job-a", ("m",), "out/", issued_at=future, expires_at=future + timedelta(hours=1))
    )
    assert codec.verify(token, now=future).issued_at == future
    with pytest.raises(Unauthenticated, match=r"^token expired$"):
        codec.verify(token, now=future + timedelta(hours=1))


def test_claims_are_utf8_so_the_largest_scope_still_makes_a_token(codec: TokenCodec) -> None:
    """A mezzanine key and a prefix of 1,024 UTF-8 bytes each (the key limit) of 4-byte
    characters: written as UTF-8 (RFC 7519 section 7.1) the token stays under the size verify()
    accepts; as ASCII with \\u escapes it would not."""
    key = "\U0001f600" * 256  # 1,024 bytes
    prefix = "\U0001f600" * 255 + "/"
    big = JobScope("job-a", (key,), prefix, NOW, NOW + timedelta(hours=1))
    token = codec.issue(big)
    payload = token.split(".")[1]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    assert key.encode("utf-8") in raw
    assert codec.verify(token, now=NOW) == big


def test_the_token_size_limit_is_the_same_for_issue_and_verify(codec: TokenCodec) -> None:
    """issue() never hands out a token verify() refuses, and verify() refuses any token over
    MAX_TOKEN_CHARS, even one properly signed."""

    def of_prefix(length: int) -> JobScope:
        return JobScope("job-a", ("m",), "p" * length + "/", NOW, NOW + timedelta(hours=1))

    # The prefix length whose token is exactly MAX_TOKEN_CHARS long; one byte more is too long.
    lengths = {}
    for length in range(5900, 5950):
        try:
            lengths[len(codec.issue(of_prefix(length)))] = length
        except ValueError as exc:
            assert str(exc) == f"the scope makes a token longer than {MAX_TOKEN_CHARS} characters"
            break
    at_limit = of_prefix(lengths[MAX_TOKEN_CHARS])
    over = of_prefix(lengths[MAX_TOKEN_CHARS] + 1)
    assert codec.verify(codec.issue(at_limit), now=NOW) == at_limit
    with pytest.raises(ValueError, match="longer than"):
        codec.issue(over)
    signed = jwt.encode(
        _claims(output_prefix=over.output_prefix), NEW_SECRET, "HS256", headers={"kid": "new"}
    )
    assert len(signed) > MAX_TOKEN_CHARS
    with pytest.raises(Unauthenticated, match=r"^malformed token$"):
        codec.verify(signed, now=NOW)


def test_remembered_tokens_are_bounded(codec: TokenCodec) -> None:
    """The decoded-token memory holds at most VERIFIED_TOKENS entries, however many valid
    tokens a long-lived process sees."""
    for number in range(VERIFIED_TOKENS + 5):
        codec.verify(codec.issue(scope(f"job-{number}")), now=NOW)
    assert codec._verified.cache_info().currsize == VERIFIED_TOKENS


def test_a_token_may_name_up_to_16_mezzanine_keys(codec: TokenCodec) -> None:
    """MAX_MEZZANINE_KEYS: 16 verify (17 do not: test_bad_tokens_are_unauthenticated)."""
    keys = [f"masters/{n}.mov" for n in range(16)]
    assert codec.verify(_mint(NEW_SECRET, mezzanine_keys=keys), now=NOW).mezzanine_keys == tuple(
        keys
    )
