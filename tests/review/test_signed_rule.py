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


def test_a_rotation_shows_every_rule_and_no_key(plan_with_rotation):
    """Two key generations: a skip rule for the older key before the block rule. Each key is
    redacted: the older key, which a redaction by the signing key alone would have left in a
    non-secret output, too."""
    rendered = plan_with_rotation.outputs[OUTPUT]
    skip, block = rendered.split("\n")
    assert skip.startswith('skip: (http.host in {"media.example.eu" "live.example.eu"} and ')
    assert skip.count('"[key redacted]"') == 1 and " not " not in skip
    assert block == EXPECTED
    for name in ("edge-playback-key", "edge-playback-key-2"):
        fake = hashlib.shake_256(name.encode()).digest(32)
        assert fake.hex() not in json.dumps(plan_with_rotation.outputs)


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
