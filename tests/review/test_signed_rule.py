"""The signed-delivery WAF rule made reviewable (issue 12, item 4): the deployed expression is a
secret (the key is a literal in it, cloudflare-docs ruleset-engine rules-language functions,
is_timed_hmac_valid_v0), so the program exports it with the key redacted, and a change of that
output is an ACCESS flag in the offline diff and in the deploy's preview judge alike."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path

from infra.cli import main
from infra.review.redact import redact_key

FIXTURES = Path(__file__).parent / "fixtures" / "preview"
OUTPUT = "signed_delivery_rule"
# Cloudflare Rules language: is_timed_hmac_valid_v0(<key>, <MessageMAC>, <ttl>, <timestamp>,
# <separator length>, <flags>); the hosts are eu-prod's deliveryHostnames.
EXPECTED = (
    '(http.host in {"media.example.eu" "live.example.eu"} and not is_timed_hmac_valid_v0('
    '"[key redacted]", http.request.uri, 86400, http.request.timestamp.sec, 8, "s"))'
)


def test_eu_prod_exports_the_deployed_rule_with_the_key_redacted(eu_prod_plan):
    assert eu_prod_plan["outputs"][OUTPUT] == EXPECTED


def test_the_key_itself_is_nowhere_in_the_plan(eu_prod_plan):
    # What the offline mocks answer for the edge's RandomBytes (infra/review/offline.py): the
    # plan must show neither its hex nor its base64.
    fake = hashlib.shake_256(b"edge-playback-key").digest(32)
    text = json.dumps(eu_prod_plan)
    assert fake.hex() not in text


def test_redaction_fails_closed():
    key = "ab" * 32
    assert redact_key(f'f("{key}")', key) == 'f("[key redacted]")'
    # The key in another form than a JSON string literal: nothing of the text is given out.
    assert key not in redact_key(f"f({key})", key)
    assert redact_key(f"f({key})", key).startswith("[secret")
    assert redact_key("anything", "").startswith("[secret")


def test_a_changed_rule_is_an_access_flag_in_the_diff(eu_prod_plan, write_plan, capsys):
    head = copy.deepcopy(eu_prod_plan)
    head["outputs"][OUTPUT] = EXPECTED.replace('"live.example.eu"', '"open.example.eu"')
    capsys.readouterr()
    assert main(["diff", write_plan("base", eu_prod_plan), write_plan("head", head)]) == 1
    out = capsys.readouterr().out
    assert f"| **ACCESS** | `{OUTPUT}` (stack output) |" in out
    assert "open.example.eu" in out  # shown whole, to be read


def test_a_changed_rule_is_an_access_flag_in_the_preview(tmp_path, capsys):
    preview = json.loads((FIXTURES / "secret-rule.json").read_text(encoding="utf-8"))
    stack_step = preview["steps"][0]
    assert stack_step["newState"]["type"] == "pulumi:pulumi:Stack"
    stack_step["op"] = "update"
    stack_step["oldState"]["outputs"] = {OUTPUT: EXPECTED}
    stack_step["newState"]["outputs"] = {OUTPUT: re.sub("86400", "31536000", EXPECTED)}
    path = tmp_path / "preview.json"
    path.write_text(json.dumps(preview), encoding="utf-8")
    capsys.readouterr()
    assert main(["judge-preview", str(path)]) == 1
    assert f"| **ACCESS** | `{OUTPUT}` (stack output) |" in capsys.readouterr().out
