"""A secret-bearing text made reviewable: the key taken out, everything else kept."""

from __future__ import annotations

import json

__all__ = ["REDACTED", "redact_key"]

REDACTED = "[key redacted]"
# What the plan shows when the key cannot be taken out for certain.
_WITHHELD = "[secret: the key could not be redacted]"


def redact_key(text: str, key: str) -> str:
    """``text`` with the string literal ``key`` (as ``json.dumps`` writes it, the way the rule
    expressions quote it) replaced by ``"[key redacted]"``. Fails closed: if the key still
    appears in any form, nothing of the text is returned."""
    if not key:
        return _WITHHELD
    redacted = text.replace(json.dumps(key), json.dumps(REDACTED))
    return _WITHHELD if key in redacted else redacted
