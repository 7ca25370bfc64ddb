"""Every border crossing is a flag, and a rename with ``aliases`` is not a false alarm
(issue 12, items 4 and 5). Both plans of each case are built from config by the real program."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

from infra.cli import main

MEZZANINE_BUCKET = "mezzanine-bucket"


def _plan(tmp_path: Path, name: str, folder: Path | None, stack: str = "eu-prod") -> Path:
    out = tmp_path / f"{name}.json"
    args = ["plan", "--stack", stack, "--format", "json", "--output", str(out), "--no-policy"]
    assert main(args + (["--project-dir", str(folder)] if folder else [])) == 0
    return out


def _diff(base: Path, head: Path, capsys) -> tuple[int, str]:
    capsys.readouterr()
    status = main(["diff", str(base), str(head)])
    return status, capsys.readouterr().out


def test_regional_hostnames_off_on_an_eu_stack_is_a_border_crossing(
    project_copy: Callable[..., Path], tmp_path, capsys
):
    # Turning regional hostnames off (an Enterprise stack may) removes the RegionalHostname:
    # Cloudflare then terminates TLS for the host in any data center (Cloudflare docs,
    # data-localization/regional-services).
    edited = project_copy("eu-prod", lambda t: t + '  r2-video:regionalHostnames: "false"\n')
    base = _plan(tmp_path, "base", None)
    head = _plan(tmp_path, "head", edited)
    status, out = _diff(base, head, capsys)
    assert status == 1, out
    rows = [line for line in out.splitlines() if line.startswith("| **BORDER** |")]
    assert any("(RegionalHostname)" in row and "regional hostname removed" in row for row in rows)
    # The program's own warning is shown, and is a border flag of its own.
    assert "**Warnings from the program**" in out
    assert any("(program warning)" in row and "not pinned" in row for row in rows), rows


def test_a_sippy_source_across_the_border_is_a_border_crossing(
    project_copy: Callable[..., Path], tmp_path, capsys
):
    # eu-prod migrates from a bucket in eu-central-1; a US source bucket is outside the EU.
    edited = project_copy(
        "eu-prod",
        lambda t: (
            t.replace("    sourceRegion: eu-central-1\n", "    sourceRegion: us-east-1\n") + ""
        ),
    )
    text = (edited / "Pulumi.eu-prod.yaml").read_text(encoding="utf-8")
    (edited / "Pulumi.eu-prod.yaml").write_text(
        text.replace(
            "    sourceRegion: us-east-1\n",
            "    sourceRegion: us-east-1\n    acknowledgeCrossBorder: true\n",
        ),
        encoding="utf-8",
    )
    base = _plan(tmp_path, "base", None)
    head = _plan(tmp_path, "head", edited)
    status, out = _diff(base, head, capsys)
    assert status == 1, out
    rows = [line for line in out.splitlines() if line.startswith("| **BORDER** |")]
    assert any("(program warning)" in row and "crosses a border" in row for row in rows), out
    assert "us-east-1" in out
    # The resource itself says so too, whatever the program's warning says: a head whose
    # warning was reworded (here: dropped) still crosses the border.
    assert any("(R2BucketSippy)" in row and "Sippy copies from us-east-1" in row for row in rows)
    silent = json.loads(head.read_text(encoding="utf-8"))
    silent["warnings"] = []
    head.write_text(json.dumps(silent), encoding="utf-8")
    status, out = _diff(base, head, capsys)
    assert status == 1, out
    assert "| **BORDER** | `migration-sippy` (R2BucketSippy) | Sippy copies from us-east-1" in out


def test_the_plan_records_aliases(eu_prod_plan):
    # pulumi-aws v7 renamed BucketV2 to Bucket and gives the new type an alias to the old one
    # (pulumi_aws/s3/bucket.py: aliases=[pulumi.Alias(type_="aws:s3/bucketV2:BucketV2")]).
    (bucket,) = [r for r in eu_prod_plan["resources"] if r["name"] == MEZZANINE_BUCKET]
    parent_type = "r2-video:storage:MezzanineBucket"
    assert bucket["aliases"] == [
        f"urn:pulumi:eu-prod::r2-video::{parent_type}$aws:s3/bucketV2:BucketV2::{MEZZANINE_BUCKET}"
    ]


def _before_the_rename(plan: dict, *, keep_alias: bool) -> tuple[dict, dict]:
    """A base where the mezzanine bucket still has its old URN, and the head (current plan)."""
    base = copy.deepcopy(plan)
    head = copy.deepcopy(plan)
    (old,) = [r for r in base["resources"] if r["name"] == MEZZANINE_BUCKET]
    (new,) = [r for r in head["resources"] if r["name"] == MEZZANINE_BUCKET]
    old["urn"] = old.pop("aliases")[0]
    old["type"] = "aws:s3/bucketV2:BucketV2"
    if not keep_alias:
        new.pop("aliases")
    return base, head


def test_an_aliased_rename_exits_0_with_a_rename_line(eu_prod_plan, write_plan, capsys):
    base, head = _before_the_rename(eu_prod_plan, keep_alias=True)
    status, out = _diff(Path(write_plan("base", base)), Path(write_plan("head", head)), capsys)
    assert status == 0, out
    assert f"- rename `{MEZZANINE_BUCKET}` (BucketV2) → `{MEZZANINE_BUCKET}`" in out
    assert "DATA LOSS" not in out


def test_the_same_rename_without_the_alias_is_data_loss(eu_prod_plan, write_plan, capsys):
    base, head = _before_the_rename(eu_prod_plan, keep_alias=False)
    status, out = _diff(Path(write_plan("base", base)), Path(write_plan("head", head)), capsys)
    assert status == 1, out
    assert f"| **DATA LOSS** | `{MEZZANINE_BUCKET}` (BucketV2) | removed" in out


def test_aliases_must_be_a_list_of_urns(eu_prod_plan, write_plan, capsys):
    bad = json.loads(json.dumps(eu_prod_plan))
    bad["resources"][0]["aliases"] = "urn:x"
    path = write_plan("bad", bad)
    assert main(["diff", path, path]) == 2
    assert "'aliases' must be a list of URNs" in capsys.readouterr().err
