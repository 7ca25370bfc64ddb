# ruff: noqa: E501 - the expected messages are one line each, as the PR comment shows them
"""The diff a reviewer reads, whole: one change of every kind, its flags and its Markdown.

The expected comment (fixtures/diff_render.md) was written once from the code and read line by
line against the rules in infra/review/diff.py's docstring; change it by hand only, together
with the rule it shows. One fault per case in the smaller tests below.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.review.diff import (
    ACCESS,
    BORDER,
    DATA_LOSS,
    REPLACE,
    Plan,
    PlanError,
    compare,
    load_plan,
    main,
    render_markdown,
)

FIXTURES = Path(__file__).parent / "fixtures"
P = "urn:pulumi:s::r2-video::"
AWS = P + "pulumi:providers:aws::aws"
EU_RULE = (
    "an EU region: eu-central-1, eu-north-1, eu-south-1, eu-south-2, eu-west-1, eu-west-3"
    " (partition aws) or eusc-de-east-1 (AWS European Sovereign Cloud, partition aws-eusc)"
)
MOVES = (
    "replaced: its AWS provider moves region (eu-central-1 → eu-west-2); pulumi-aws v7 does not"
    " move resources between regions (pulumi/pulumi-aws#5656)"
)


def r(type_token: str, name: str, inputs: dict[str, Any] | None = None, **options) -> dict:
    return {"urn": f"{P}{type_token}::{name}", "type": type_token, "name": name} | {
        "inputs": inputs or {},
        **options,
    }


def plan(resources: list[dict], outputs=None, warnings=(), path="x.json") -> Plan:
    return Plan(path, "r2-video", "s", {x["urn"]: x for x in resources}, outputs or {}, warnings)


BASE = [
    r("pulumi:providers:aws", "aws", {"region": "eu-central-1"}),
    r(
        "aws:s3/bucket:Bucket",
        "masters",
        {"bucket": "m", "forceDestroy": False},
        protect=True,
        retain_on_delete=True,
        provider=AWS,
    ),
    r("aws:iam/role:Role", "role", {"name": "r"}, provider=AWS),
    r(
        "aws:lambda/function:Function",
        "fn",
        {"memorySize": 512, "apiToken": "abc", "note": "a|b`c"},
        provider=AWS,
    ),
    r(
        "cloudflare:index/r2Bucket:R2Bucket",
        "old-bucket",
        {"name": "old", "jurisdiction": "eu"},
        protect=True,
        retain_on_delete=True,
    ),
    r(
        "cloudflare:index/regionalHostname:RegionalHostname",
        "media",
        {"hostname": "media.example.eu", "regionKey": "eu"},
    ),
    r("cloudflare:index/r2CustomDomain:R2CustomDomain", "domain", {"domain": "a.example.eu"}),
]
HEAD = [
    r("pulumi:providers:aws", "aws", {"region": "eu-west-2"}),
    r("aws:s3/bucket:Bucket", "masters", {"bucket": "m", "forceDestroy": True}, provider=AWS),
    r("aws:iam/role:Role", "role", {"name": "r"}, provider=AWS),  # IAM is global: stays
    r(
        "aws:lambda/function:Function",
        "fn",
        {"memorySize": 1024, "apiToken": "xyz", "note": "a|b`c" * 30},
        provider=AWS,
    ),
    r(
        "cloudflare:index/r2Bucket:R2Bucket",
        "new-bucket",
        {"name": "new", "jurisdiction": "eu", "tags": ["x"]},
        protect=True,
    ),
    r(
        "cloudflare:index/r2CustomDomain:R2CustomDomain",
        "domain2",
        {"domain": "a.example.eu"},
        aliases=[P + "cloudflare:index/r2CustomDomain:R2CustomDomain::domain"],
    ),
    r(
        "cloudflare:index/r2BucketSippy:R2BucketSippy",
        "sippy",
        {"jurisdiction": "eu", "source": {"region": "us-east-1"}},
    ),
]
OUTPUTS = (
    {"signed_delivery_rule": "rule v1", "bucket": "old"},
    {"signed_delivery_rule": "rule v2 " + "x" * 100, "bucket": "new"},
)
WARNINGS = (("kept warning",), ("kept warning", "Sippy: data crosses a border", "something else"))


def _everything():
    return compare(
        plan(BASE, OUTPUTS[0], WARNINGS[0], "base.json"),
        plan(HEAD, OUTPUTS[1], WARNINGS[1], "head.json"),
    )


def test_every_kind_of_change_raises_its_flags():
    diff = _everything()
    masters, bucket = "`masters` (Bucket)", "`old-bucket` (R2Bucket)"
    assert [(f.kind, f.urn.rsplit("::", 1)[-1], f.label, f.message) for f in diff.flags] == [
        (
            DATA_LOSS,
            "masters",
            masters,
            "re-created, and the S3 bucket holds the mezzanine masters; deleting it deletes every version; it is protected, so `pulumi up` stops until it is unprotected",
        ),
        (DATA_LOSS, "masters", masters, "`protect` removed: a later change can delete it"),
        (
            DATA_LOSS,
            "masters",
            masters,
            "`retainOnDelete` removed: removing it from the program will delete it",
        ),
        (
            DATA_LOSS,
            "masters",
            masters,
            "`forceDestroy` turned on: deleting the bucket also deletes every object",
        ),
        (
            DATA_LOSS,
            "old-bucket",
            bucket,
            "removed (renamed to `new-bucket`? without `aliases` Pulumi deletes the old one): an R2 bucket holds the renditions; deleting it deletes every object; it is protected, so `pulumi up` stops until it is unprotected; retainOnDelete leaves it in the cloud, unmanaged",
        ),
        (
            BORDER,
            "",
            "(program warning)",
            "Sippy migration across a border: `Sippy: data crosses a border`",
        ),
        (
            BORDER,
            "sippy",
            "`sippy` (R2BucketSippy)",
            f"Sippy copies from us-east-1 into a 'eu' bucket: outside the jurisdiction ({EU_RULE})",
        ),
        (
            BORDER,
            "media",
            "`media` (RegionalHostname)",
            "regional hostname removed: TLS termination and processing of the host may happen in any Cloudflare data center, outside the jurisdiction's region",
        ),
        (
            BORDER,
            "aws",
            "`aws` (aws)",
            "AWS provider region (every AWS resource of the stack): `eu-central-1` → `eu-west-2`; 2 resource(s) move with it: `masters`, `fn`",
        ),
        (
            ACCESS,
            "",
            "`signed_delivery_rule` (stack output)",
            "the signed-delivery WAF rule (which requests may fetch content; key redacted): see *Stack outputs*",
        ),
        (REPLACE, "fn", "`fn` (Function)", MOVES),
        (REPLACE, "masters", masters, MOVES),
    ]
    assert diff.exit_status == 1
    assert [(old["name"], new["name"]) for old, new in diff.renames] == [
        ("old-bucket", "new-bucket")
    ]
    assert [(old["name"], new["name"]) for old, new in diff.aliased] == [("domain", "domain2")]
    assert diff.new_warnings == ["Sippy: data crosses a border", "something else"]


def test_the_comment_shows_every_section():
    expected = (FIXTURES / "diff_render.md").read_text(encoding="utf-8")
    assert render_markdown(_everything()) == expected


def test_an_unchanged_stack_says_so_in_one_line():
    same = plan(BASE, {"bucket": "old"})
    assert render_markdown(compare(same, same)) == (
        "### Stack `s`: no flags · 0 added · 0 removed · 0 changed\n"
        "\n"
        "No change to this stack's resources or outputs.\n"
    )


def test_a_clean_change_has_no_caution_and_exits_0():
    diff = compare(
        plan(BASE[:1]),
        plan([r("pulumi:providers:aws", "aws", {"region": "eu-central-1", "profile": "x"})]),
    )
    text = render_markdown(diff)
    assert diff.flags == [] and diff.exit_status == 0
    assert text.startswith("### Stack `s`: no flags · 0 added · 0 removed · 1 changed\n\n<details")
    assert "CAUTION" not in text and "| flag |" not in text


def test_a_replace_alone_does_not_block():
    old = r("cloudflare:index/r2CustomDomain:R2CustomDomain", "d", {"domain": "a.example.eu"})
    new = r("cloudflare:index/r2CustomDomain:R2CustomDomain", "d", {"domain": "b.example.eu"})
    diff = compare(plan([old]), plan([new]))
    assert [(f.kind, f.message) for f in diff.flags] == [
        (REPLACE, "replaced: `domain` (the custom domain is re-created)")
    ]
    assert diff.exit_status == 0
    assert "CAUTION" not in render_markdown(diff)


def test_moving_region_across_partitions_says_so():
    old = r("aws:s3/bucket:Bucket", "b", {"region": "eu-central-1"})
    new = r("aws:s3/bucket:Bucket", "b", {"region": "eusc-de-east-1"})
    (border,) = [f for f in compare(plan([old]), plan([new])).flags if f.kind == BORDER]
    assert border.message == (
        "AWS region of the resource: `eu-central-1` → `eusc-de-east-1`; partition aws → aws-eusc"
    )


def test_a_provider_change_replaces_a_resource():
    old = r("aws:iam/role:Role", "role", {"name": "r"}, provider=AWS)
    new = r("aws:iam/role:Role", "role", {"name": "r"}, provider=AWS + "2")
    diff = compare(plan([old]), plan([new]))
    assert [(f.kind, f.message) for f in diff.flags] == [
        (REPLACE, "replaced: its provider changed")
    ]
    (_old, _new, changes) = diff.changed[0]
    assert [(c.path, c.before, c.after) for c in changes] == [("(provider)", AWS, AWS + "2")]


def test_a_parent_change_is_shown():
    old = r("aws:iam/role:Role", "role", parent="urn:a")
    new = r("aws:iam/role:Role", "role", parent="urn:b")
    (_old, _new, changes) = compare(plan([old]), plan([new])).changed[0]
    assert [(c.path, c.before, c.after) for c in changes] == [("(parent)", "urn:a", "urn:b")]


def test_statements_without_sid_are_keyed_by_content():
    statement = {"Effect": "Allow", "Action": "s3:GetObject"}
    digest = (
        "#"
        + __import__("hashlib")
        .sha256(json.dumps(statement, sort_keys=True).encode())
        .hexdigest()[:8]
    )
    old = r(
        "aws:iam/rolePolicy:RolePolicy", "p", {"policy": json.dumps({"Statement": [statement]})}
    )
    new = r(
        "aws:iam/rolePolicy:RolePolicy",
        "p",
        {"policy": json.dumps({"Statement": [{"Sid": "Read", **statement}]})},
    )
    (_old, _new, changes) = compare(plan([old]), plan([new])).changed[0]
    assert [c.path for c in changes] == [
        f"policy.Statement[{digest}].Action",
        f"policy.Statement[{digest}].Effect",
        "policy.Statement[Sid=Read].Action",
        "policy.Statement[Sid=Read].Effect",
        "policy.Statement[Sid=Read].Sid",
    ]


# --- loading and the command ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[]", "{path}: not a plan (expected a JSON object)"),
        (
            '{"project": "p"}',
            "{path}: not a plan from `python -m infra.cli plan --format json` (missing stack, resources)",
        ),
        ('{"project": "p", "stack": "s", "resources": {}}', "{path}: 'resources' must be a list"),
        (
            '{"project": "p", "stack": "s", "resources": [{"urn": "u", "type": "t"}]}',
            "{path}: resource 0 has no urn, type and name",
        ),
        (
            '{"project": "p", "stack": "s", "resources": [1]}',
            "{path}: resource 0 has no urn, type and name",
        ),
        (
            '{"project": "p", "stack": "s", "resources": [{"urn": "u", "type": "t", "name": "n"}, {"urn": "u", "type": "t", "name": "m"}]}',
            "{path}: URN u appears twice",
        ),
        (
            '{"project": "p", "stack": "s", "resources": [{"urn": "u", "type": "t", "name": "n", "aliases": "a"}]}',
            "{path}: resource 0: 'aliases' must be a list of URNs",
        ),
        (
            '{"project": "p", "stack": "s", "resources": [{"urn": "u", "type": "t", "name": "n", "aliases": [1]}]}',
            "{path}: resource 0: 'aliases' must be a list of URNs",
        ),
        (
            '{"project": "p", "stack": "s", "resources": [], "warnings": "w"}',
            "{path}: 'warnings' must be a list of strings",
        ),
        (
            '{"project": "p", "stack": "s", "resources": [], "warnings": [1]}',
            "{path}: 'warnings' must be a list of strings",
        ),
    ],
)
def test_a_malformed_plan_is_refused_saying_why(tmp_path, text, message):
    path = tmp_path / "plan.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    assert str(caught.value) == message.format(path=path)


def test_a_plan_loads_with_its_warnings_and_outputs(tmp_path):
    path = tmp_path / "plan.json"
    document = {"project": 1, "stack": "s", "resources": [{"urn": "u", "type": "t", "name": "n"}]}
    path.write_text(json.dumps(document | {"outputs": {"o": 1}, "warnings": ["w"]}), "utf-8")
    loaded = load_plan(path)
    assert (loaded.path, loaded.project, loaded.stack) == (str(path), "1", "s")
    assert (loaded.outputs, loaded.warnings) == ({"o": 1}, ("w",))
    assert list(loaded.resources) == ["u"]
    path.write_text(json.dumps(document), "utf-8")
    assert (load_plan(path).outputs, load_plan(path).warnings) == ({}, ())


def test_unreadable_and_non_json_plans(tmp_path):
    with pytest.raises(PlanError, match=r"missing\.json: cannot read it \(No such file"):
        load_plan(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_bytes(b"\xff\xfe")
    with pytest.raises(PlanError, match=r"bad\.json: not JSON \("):
        load_plan(tmp_path / "bad.json")


def test_main_writes_the_comment_and_returns_the_status(tmp_path, capsys):
    base, head = tmp_path / "base.json", tmp_path / "head.json"
    for path, resources in ((base, BASE), (head, BASE[:1])):
        path.write_text(json.dumps({"project": "p", "stack": "s", "resources": resources}), "utf-8")
    out = tmp_path / "comment.md"
    assert main(str(base), str(head), output=str(out)) == 1
    assert capsys.readouterr().out == ""
    assert out.read_text(encoding="utf-8").startswith("### Stack `s`: 2 data loss, 1 border")
    assert main(str(base), str(base)) == 0
    assert "no flags" in capsys.readouterr().out
    assert main(str(base), str(tmp_path / "none.json")) == 2
    assert capsys.readouterr().err.startswith(f"error: {tmp_path / 'none.json'}: cannot read it")


# --- one rendering rule per case ------------------------------------------------------------------


def _outputs_table(before: dict, after: dict) -> list[str]:
    text = render_markdown(compare(plan([], before), plan([], after)))
    return [line for line in text.splitlines() if line.startswith("| `")]


def test_a_reviewed_output_is_shown_whole_and_on_one_line():
    rule = "skip: " + "a" * 1000 + "\n" + "b" * 993  # 2000 characters: shown whole
    assert _outputs_table({"signed_delivery_rule": rule}, {}) == [
        f"| `signed_delivery_rule` | `{rule.replace(chr(10), ' ')}` | — |"
    ]
    longer = {"signed_delivery_rule": {"rule": "c" * 2001}}  # wherever the text sits
    assert _outputs_table({}, longer) == [f"| `signed_delivery_rule.rule` | — | `{'c' * 1999}…` |"]


def test_other_outputs_are_cut_at_80_characters_and_secrets_masked():
    assert _outputs_table(
        {"note": "d" * 80, "db_password": "p1"}, {"note": "e" * 81, "db_password": "p2"}
    ) == [
        "| `db_password` | `[secret]` | `[secret]` |",
        f"| `note` | `{'d' * 80}` | `{'e' * 79}…` |",
    ]


def test_warnings_are_cut_at_400_characters():
    old, new = "w" * 400, "n" * 401
    text = render_markdown(compare(plan([], warnings=(old,)), plan([], warnings=(old, new))))
    assert f"- `{old}`\n- **new** `{'n' * 399}…`\n" in text


def test_an_added_resource_masks_secret_looking_inputs():
    added = r("cloudflare:index/x:X", "x", {"apiToken": "abc", "name": "n"})
    text = render_markdown(compare(plan([]), plan([added])))
    assert "| `apiToken` | `[secret]` |\n| `name` | `n` |\n" in text


@pytest.mark.parametrize(
    ("base", "head", "section"),
    [
        (BASE[6:7], HEAD[5:6], "**Renames with `aliases`**"),  # only an aliased rename
        (BASE[6:7], [], "<details><summary>Removed (1)</summary>"),  # only a removal
        ([], BASE[6:7], "<details><summary>Added (1)</summary>"),
    ],
)
def test_a_change_of_one_kind_is_shown(base, head, section):
    text = render_markdown(compare(plan(base), plan(head)))
    assert "No change to this stack" not in text
    assert section in text


def test_unchanged_warnings_are_still_shown():
    text = render_markdown(compare(plan([], warnings=("w",)), plan([], warnings=("w",))))
    assert "No change to this stack" not in text
    assert "**Warnings from the program** (`pulumi up` prints these too):\n- `w`\n" in text


def test_a_resource_with_its_own_region_does_not_move_with_the_provider():
    pinned = r("aws:s3/bucket:Bucket", "pinned", {"region": "eu-central-1"}, provider=AWS)
    diff = compare(plan([BASE[0], pinned]), plan([HEAD[0], pinned]))
    assert [(f.kind, f.label) for f in diff.flags] == [(BORDER, "`aws` (aws)")]
    assert diff.moved_with == {}


def test_replacing_any_protected_resource_is_data_loss():
    old = r("aws:iam/role:Role", "role", {"name": "a"}, protect=True)
    new = r("aws:iam/role:Role", "role", {"name": "b"}, protect=True)
    assert [(f.kind, f.message) for f in compare(plan([old]), plan([new])).flags] == [
        (
            DATA_LOSS,
            "re-created, and the program protects it: it holds state; it is protected, so `pulumi up` stops until it is unprotected",
        ),
        (REPLACE, "replaced: `name` (the role is re-created)"),
    ]


def test_a_first_or_last_property_is_one_row():
    # Found by this test: an empty side used to add a row with an empty name and value `{}`.
    old = r("cloudflare:index/x:X", "x", {})
    new = r("cloudflare:index/x:X", "x", {"a": 1})
    (_old, _new, changes) = compare(plan([old]), plan([new])).changed[0]
    assert [(c.path, c.after) for c in changes] == [("a", 1)]
    (_new, _old, changes) = compare(plan([new]), plan([old])).changed[0]
    assert [(c.path, c.before) for c in changes] == [("a", 1)]


def test_json_lists_in_inputs_are_compared_element_by_element():
    old = r("cloudflare:index/x:X", "x", {"hosts": '["a.example.eu"]'})
    new = r("cloudflare:index/x:X", "x", {"hosts": '["a.example.eu", "b.example.eu"]'})
    diff = compare(plan([old]), plan([new]))
    assert diff.base.path == "x.json" and diff.head is not diff.base
    (_old, _new, changes) = diff.changed[0]
    assert [(c.path, c.after) for c in changes] == [("hosts[1]", "b.example.eu")]


def test_removing_the_aws_provider_is_a_removal_not_a_move():
    diff = compare(plan(BASE[:1]), plan([]))
    assert diff.moved_with == {} and [x["name"] for x in diff.removed] == ["aws"]


def test_every_cause_of_a_replace_is_listed():
    old = r("aws:iam/role:Role", "role", {"name": "a"}, provider=AWS)
    new = r("aws:iam/role:Role", "role", {"name": "b"}, provider=AWS + "2")
    assert [f.message for f in compare(plan([old]), plan([new])).flags] == [
        "replaced: `name` (the role is re-created); its provider changed"
    ]


def test_unprotected_data_is_lost_without_the_protect_note():
    old = r("cloudflare:index/r2Bucket:R2Bucket", "b", {"name": "a"})
    new = r("cloudflare:index/r2Bucket:R2Bucket", "b", {"name": "b"})
    flags = compare(plan([old]), plan([new])).flags
    assert [(f.kind, f.message) for f in flags if f.kind == DATA_LOSS] == [
        (
            DATA_LOSS,
            "re-created, and an R2 bucket holds the renditions; deleting it deletes every object",
        )
    ]
    (removed,) = compare(plan([old]), plan([])).flags
    assert (
        removed.message
        == "removed: an R2 bucket holds the renditions; deleting it deletes every object"
    )


def test_removing_any_protected_resource_is_data_loss():
    old = r("aws:iam/role:Role", "role", {"name": "a"}, protect=True)
    (flag,) = compare(plan([old]), plan([])).flags
    assert (flag.kind, flag.message) == (
        DATA_LOSS,
        "removed: the program protects it: it holds state; it is protected, so `pulumi up` stops until it is unprotected",
    )


def test_force_destroy_already_on_is_no_new_flag():
    old = r("aws:s3/bucket:Bucket", "b", {"bucket": "m", "forceDestroy": True, "tags": {"a": "1"}})
    new = r("aws:s3/bucket:Bucket", "b", {"bucket": "m", "forceDestroy": True, "tags": {"a": "2"}})
    assert compare(plan([old]), plan([new])).flags == []


ROLE = "aws:iam/role:Role"


@pytest.mark.parametrize(
    ("removed", "added", "expected"),
    [
        # Same name under a new parent: one resource moved (a rename without aliases).
        (
            [r(ROLE, "a", parent="urn:p1")],
            [
                r(ROLE, "b", parent="urn:p1"),
                r(ROLE, "a", parent="urn:p2", urn=f"{P}parent$" + ROLE + "::a"),
            ],
            [("a", "a")],
        ),
        # A new name under the same parent, and it is the only one: renamed.
        ([r(ROLE, "a", parent="urn:p1")], [r(ROLE, "b", parent="urn:p1")], [("a", "b")]),
        # Two candidates under the same parent: no guess.
        (
            [r(ROLE, "a", parent="urn:p1")],
            [r(ROLE, "b", parent="urn:p1"), r(ROLE, "c", parent="urn:p1")],
            [],
        ),
        # Another type is never a rename.
        ([r(ROLE, "a")], [r("aws:kms/key:Key", "a")], []),
    ],
)
def test_renames_are_guessed_only_when_unambiguous(removed, added, expected):
    diff = compare(plan(removed), plan(added))
    assert [(old["name"], new["name"]) for old, new in diff.renames] == expected


SIPPY = "cloudflare:index/r2BucketSippy:R2BucketSippy"
CROSSING = r(SIPPY, "s", {"jurisdiction": "eu", "source": {"region": "us-east-1"}})
INSIDE = r(SIPPY, "s", {"jurisdiction": "eu", "source": {"region": "eu-central-1"}})


@pytest.mark.parametrize(
    ("base", "head", "flagged"),
    [
        ([], [CROSSING], True),
        ([INSIDE], [CROSSING], True),
        ([CROSSING], [CROSSING], False),
        ([CROSSING], [INSIDE], False),
        ([CROSSING], [], False),
    ],
)
def test_a_sippy_crossing_is_flagged_when_it_begins(base, head, flagged):
    borders = [f for f in compare(plan(base), plan(head)).flags if f.kind == BORDER]
    assert [f.label for f in borders] == (["`s` (R2BucketSippy)"] if flagged else [])


def test_a_crossing_warning_is_quoted_up_to_400_characters():
    warning = "Sippy: data crosses a border " + "x" * 372  # 401 characters
    (flag,) = compare(plan([]), plan([], warnings=(warning,))).flags
    assert flag.message == f"Sippy migration across a border: `{warning[:399]}…`"


@pytest.mark.parametrize(("before", "after"), [({"a": None}, {}), ({}, {"a": None})])
def test_a_null_property_appearing_or_going_is_a_change(before, after):
    old = r("cloudflare:index/x:X", "x", before)
    new = r("cloudflare:index/x:X", "x", after)
    (_old, _new, changes) = compare(plan([old]), plan([new])).changed[0]
    assert [c.path for c in changes] == ["a"]
    text = render_markdown(compare(plan([old]), plan([new])))
    assert ("| `a` | `null` | — |" if before else "| `a` | — | `null` |") in text
