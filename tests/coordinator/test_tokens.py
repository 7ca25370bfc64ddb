"""Worker tokens: what verifies, and every way a token must not."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from coordinator.errors import OutOfScope, Unauthenticated
from coordinator.tokens import AUDIENCE, ISSUER, JobScope, TokenCodec, is_job_id, new_job_id

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
    assert refused.value.code == "token_expired"


def test_token_for_another_job_is_out_of_scope(codec: TokenCodec) -> None:
    token = codec.issue(scope("job-a"))
    with pytest.raises(OutOfScope):
        codec.verify(token, now=NOW, job_id="job-b")


def test_token_issued_in_the_future_is_refused(codec: TokenCodec) -> None:
    token = _mint(NEW_SECRET, iat=int((NOW + timedelta(minutes=10)).timestamp()))
    with pytest.raises(Unauthenticated, match="future"):
        codec.verify(token, now=NOW)


def test_tampered_payload_is_refused(codec: TokenCodec) -> None:
    header, _, signature = codec.issue(scope()).split(".")
    widened = _b64(_claims(output_prefix="", sub="job-a"))
    with pytest.raises(Unauthenticated, match="signature"):
        codec.verify(f"{header}.{widened}.{signature}", now=NOW)


@pytest.mark.parametrize(
    ("token_of", "reason"),
    [
        (lambda: _mint(NEW_SECRET, kid=None), "no key id"),
        (lambda: _mint(NEW_SECRET, kid="someone-else"), "key id is unknown"),
        (lambda: _mint("x" * 32), "signature"),
        (lambda: _mint(NEW_SECRET, aud="another-service"), "audience"),
        (lambda: _mint(NEW_SECRET, iss="another-coordinator"), "issuer"),
        (lambda: _mint(NEW_SECRET, alg="HS512"), "algorithm"),
        (lambda: _mint(NEW_SECRET, exp=None), "claim"),
        (lambda: _mint(NEW_SECRET, mezzanine_keys="masters/a.mov"), "scope"),
        (lambda: _mint(NEW_SECRET, sub="../job"), "job id"),
        (lambda: _mint(NEW_SECRET, exp=True), "times"),
        (lambda: "not-a-jwt", "malformed"),
        (lambda: "", "malformed"),
        (lambda: "a." * 5000, "malformed"),
    ],
    ids=[
        "missing-kid",
        "unknown-kid",
        "wrong-key",
        "wrong-audience",
        "wrong-issuer",
        "other-hmac-alg",
        "missing-exp",
        "keys-not-a-list",
        "bad-job-id",
        "bool-exp",
        "garbage",
        "empty",
        "oversized",
    ],
)
def test_bad_tokens_are_unauthenticated(codec: TokenCodec, token_of, reason: str) -> None:
    with pytest.raises(Unauthenticated, match=reason):
        codec.verify(token_of(), now=NOW)


def test_alg_none_is_refused(codec: TokenCodec) -> None:
    unsigned = f"{_b64({'alg': 'none', 'kid': 'new', 'typ': 'JWT'})}.{_b64(_claims())}."
    with pytest.raises(Unauthenticated, match="algorithm"):
        codec.verify(unsigned, now=NOW)


def test_short_or_missing_keys_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        TokenCodec({"k": "short"}, signing_kid="k")
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
    with pytest.raises(Unauthenticated, match="not valid yet") as refused:
        codec.verify(_mint(NEW_SECRET, nbf=later), now=NOW)
    assert refused.value.code == "token_not_yet_valid"
    # The same token verifies once its time has come, and a past nbf is no obstacle.
    assert codec.verify(_mint(NEW_SECRET, nbf=later), now=NOW + timedelta(minutes=10)).job_id
    assert codec.verify(_mint(NEW_SECRET, nbf=int(NOW.timestamp()) - 60), now=NOW).job_id
    with pytest.raises(Unauthenticated, match="NumericDate"):
        codec.verify(_mint(NEW_SECRET, nbf="soon"), now=NOW)


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
