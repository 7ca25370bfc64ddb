"""``python -m infra.cli review ARTIFACT``: judge a pull request with trusted code only.

The pull request's own code may compute its offline plans, but only as data: the untrusted
job (``.ci/review-plan``, run by ``infra-review.yml`` on ``pull_request``) uploads them as an
artifact. This judge runs from the default branch's checkout (``infra-review-judge.yml``, a
``workflow_run`` workflow, which GitHub always takes from the default branch) and:

1. checks the artifact's shape before reading anything in it (file names, sizes, a schema of
   the plan document written here, the stack and project names);
2. takes the stacks from this checkout's ``Pulumi.*.yaml`` only: a stack the PR adds is listed,
   not judged, and needs an approval;
3. diffs each plan against this checkout's ``plans/<stack>.json`` with this checkout's diff and
   risk table, and runs this checkout's policy rules over it;
4. asks for an approval when the PR touches a path ``.github/CODEOWNERS`` protects (the review
   tools, rules, workflows, requirements, stack files, snapshots): the plan is the PR's word,
   and a PR that changes how the plan is made can make it say anything.

Exit status: 0 pass, 1 needs an approval (a DATA LOSS, BORDER or ACCESS flag, a new stack, a
protected path), 2 fails (bad artifact, failed plan, mandatory policy rule, stale snapshot).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coordinator.endpoints import Jurisdiction
from infra.review.diff import Diff, PlanError, compare, load_plan, render_markdown
from infra.review.fleet import MAX_STACKS
from infra.review.fleet_view import FleetRow, render_rows, row_from_plan, row_unplanned
from infra.review.picture import fenced
from infra.review.policy.rules import evaluate, mandatory_failures, render_results
from infra.review.policy.view import PROJECT, view_from_plan
from infra.review.residency_statement import statement_from_plan
from infra.stack_config import StackConfigError, load_stack_config, stack_names

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_TOTAL_BYTES",
    "Verdict",
    "check_plan_document",
    "codeowners_patterns",
    "judge",
    "main",
    "protected",
]

MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_TOTAL_BYTES = 64 * 1024 * 1024
# .ci/review-plan writes three files a stack (plan, exit status, log) for at most MAX_STACKS.
MAX_FILES = 3 * MAX_STACKS + 2
MAX_LOG_CHARS = 8000
PASS, APPROVAL, FAIL = "pass", "approval", "fail"
_EXIT = {PASS: 0, APPROVAL: 1, FAIL: 2}
# What the untrusted job may upload (.ci/review-plan): nothing else is read or accepted.
_TOP_FILES = {"pr-number": re.compile(r"\d{1,9}"), "head-sha": re.compile(r"[0-9a-f]{40}")}
_HEAD_FILE = re.compile(r"(?P<stack>[A-Za-z0-9_][A-Za-z0-9_.-]*)\.(?P<kind>json|exit|log)")
_RESOURCE_FIELDS: dict[str, tuple[type, ...]] = {
    "urn": (str,),
    "type": (str,),
    "name": (str,),
    "custom": (bool,),
    "parent": (str, type(None)),
    "provider": (str, type(None)),
    "protect": (bool,),
    "retain_on_delete": (bool,),
    "depends_on": (list,),
    "inputs": (dict,),
}
_OPTIONAL_RESOURCE_FIELDS = {"aliases"}
# Names and types end up in the comment: plain characters only (no Markdown, no @mentions).
_PLAIN = re.compile(r"[A-Za-z0-9_.:/$+=-]{1,512}")
_PLAN_FIELDS = {"project", "stack", "resources", "outputs", "warnings"}


class ArtifactError(ValueError):
    """The artifact is not what the untrusted job is allowed to hand over."""


@dataclass
class Verdict:
    state: str = PASS
    reasons: list[str] = field(default_factory=list)

    def need(self, state: str, reason: str) -> None:
        self.reasons.append(reason)
        if _EXIT[state] > _EXIT[self.state]:
            self.state = state

    @property
    def exit_status(self) -> int:
        return _EXIT[self.state]


# --- the artifact ---------------------------------------------------------------------------------


def _read_artifact(root: Path) -> dict[str, bytes]:
    """Every file of the artifact by relative path, after the name and size checks."""
    if not root.is_dir():
        raise ArtifactError(f"{root}: no artifact folder")
    files: dict[str, bytes] = {}
    total = 0
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_symlink():
            raise ArtifactError(f"{relative}: a symbolic link")
        if path.is_dir():
            if relative != "head":
                raise ArtifactError(f"{relative}/: unexpected folder")
            continue
        top = _TOP_FILES.get(relative)
        head = _HEAD_FILE.fullmatch(relative.removeprefix("head/"))
        if top is None and not (relative.startswith("head/") and head):
            raise ArtifactError(f"{relative}: unexpected file")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ArtifactError(f"{relative}: {size} bytes, more than {MAX_FILE_BYTES}")
        total += size
        if total > MAX_TOTAL_BYTES or len(files) >= MAX_FILES:
            raise ArtifactError(f"more than {MAX_TOTAL_BYTES} bytes or {MAX_FILES} files")
        files[relative] = path.read_bytes()
    for name, shape in _TOP_FILES.items():
        text = files.get(name, b"").decode("ascii", "replace").strip()
        if not shape.fullmatch(text):
            raise ArtifactError(f"{name}: missing or malformed")
    return files


def _problems_of_resource(resource: Any, i: int, prefix: str) -> list[str]:
    if not isinstance(resource, dict):
        return [f"resources[{i}] is not an object"]
    problems = []
    for key, kinds in _RESOURCE_FIELDS.items():
        if key not in resource:
            problems.append(f"resources[{i}].{key} is missing")
        elif not isinstance(resource[key], kinds) or (
            bool not in kinds and isinstance(resource[key], bool)
        ):
            problems.append(f"resources[{i}].{key} has the wrong type")
    extra = set(resource) - set(_RESOURCE_FIELDS) - _OPTIONAL_RESOURCE_FIELDS
    if extra:
        problems.append(f"resources[{i}] has unknown fields {sorted(extra)}")
    for key in ("depends_on", "aliases"):
        value = resource.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            problems.append(f"resources[{i}].{key} must be a list of URNs")
    for key in ("urn", "type", "name"):
        if isinstance(resource.get(key), str) and not _PLAIN.fullmatch(resource[key]):
            problems.append(f"resources[{i}].{key} has characters a plan never has")
    if isinstance(resource.get("urn"), str) and not resource["urn"].startswith(prefix):
        problems.append(f"resources[{i}].urn is not of this stack ({prefix}...)")
    return problems


def check_plan_document(document: Any, *, stack: str, project: str) -> list[str]:
    """Every way ``document`` differs from a ``plan --format json`` of ``stack`` (empty: fine)."""
    if not isinstance(document, dict):
        return ["not a JSON object"]
    problems = []
    extra = set(document) - _PLAN_FIELDS
    if extra:
        problems.append(f"unknown fields {sorted(extra)}")
    if document.get("project") != project:
        problems.append(f"project is {document.get('project')!r}, expected {project!r}")
    if document.get("stack") != stack:
        problems.append(f"stack is {document.get('stack')!r}, expected {stack!r}")
    if not isinstance(document.get("outputs", {}), dict):
        problems.append("outputs must be an object")
    warnings = document.get("warnings", [])
    if not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
        problems.append("warnings must be a list of strings")
    resources = document.get("resources")
    if not isinstance(resources, list):
        return [*problems, "resources must be a list"]
    prefix = f"urn:pulumi:{stack}::{project}::"
    for i, resource in enumerate(resources):
        problems += _problems_of_resource(resource, i, prefix)
    return problems


# --- protected paths --------------------------------------------------------------------------


def codeowners_patterns(base_dir: Path) -> list[str]:
    """The path patterns of the trusted checkout's ``.github/CODEOWNERS``: the one list of
    what the review itself depends on."""
    path = base_dir / ".github" / "CODEOWNERS"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        # Without the list nothing can be called unprotected: refuse rather than pass.
        raise ArtifactError(f"{path}: cannot read the protected paths ({error})") from None
    patterns = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            patterns.append(line.split()[0])
    return patterns


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    # CODEOWNERS follows gitignore: a leading "/" anchors at the root, a trailing "/" is a
    # folder and everything under it, "*" does not cross "/", a name without "/" matches at
    # any depth (docs.github.com, "About code owners").
    anchored = pattern.startswith("/") or "/" in pattern.rstrip("/")
    body = pattern.strip("/")
    regex = re.escape(body).replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
    if pattern.endswith("/"):
        regex += "/.*"
    else:
        regex += "(/.*)?"
    return re.compile(regex if anchored else f"(.*/)?{regex}")


def protected(paths: list[str], patterns: list[str]) -> list[str]:
    """The paths that a CODEOWNERS pattern covers."""
    compiled = [_pattern_regex(p) for p in patterns]
    return [p for p in paths if any(rx.fullmatch(p) for rx in compiled)]


# --- judging ----------------------------------------------------------------------------------


def _code(text: str) -> str:
    """Untrusted text as a Markdown code block it cannot break out of."""
    text = text[:MAX_LOG_CHARS].replace("```", "'''")
    return f"```\n{text}\n```"


def _empty_plan(project: str, stack: str) -> dict[str, Any]:
    return {"project": project, "stack": stack, "resources": [], "outputs": {}, "warnings": []}


def _judge_stack(
    stack: str,
    files: dict[str, bytes],
    base_dir: Path,
    project: str,
    head_committed: Path | None,
    verdict: Verdict,
    scratch: Path,
    touched: list[tuple[FleetRow, str]],
) -> list[str]:
    lines: list[str] = []
    raw = files.get(f"head/{stack}.json")
    status = files.get(f"head/{stack}.exit", b"").decode("ascii", "replace").strip()
    log = files.get(f"head/{stack}.log", b"").decode("utf-8", "replace")
    if raw is None or status not in ("0", "1"):
        verdict.need(FAIL, f"`{stack}`: the offline plan failed (exit {status or 'missing'})")
        return [f"### Stack `{stack}`: the offline plan failed", "", _code(log), ""]
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        verdict.need(FAIL, f"`{stack}`: the plan is not JSON")
        return [f"### Stack `{stack}`: the plan is not JSON", ""]
    problems = check_plan_document(document, stack=stack, project=project)
    if problems:
        verdict.need(FAIL, f"`{stack}`: the plan does not have the plan's shape")
        shown = "\n".join(f"- {p}" for p in problems[:20])
        return [f"### Stack `{stack}`: the plan is malformed", "", shown, ""]
    base_path = base_dir / "plans" / f"{stack}.json"
    if not base_path.exists():
        base_path = scratch / f"{stack}.base.json"
        base_path.write_text(json.dumps(_empty_plan(project, stack)), encoding="utf-8")
    head_path = scratch / f"{stack}.head.json"
    head_path.write_bytes(raw)
    try:
        diff = compare(load_plan(base_path), load_plan(head_path))
    except PlanError as error:
        verdict.need(FAIL, f"`{stack}`: {error}")
        return [f"### Stack `{stack}`: cannot be compared", "", _code(str(error)), ""]
    for flag in diff.blocking:
        verdict.need(APPROVAL, f"`{stack}`: **{flag.kind.upper()}** {flag.label}")
    lines.append(render_markdown(diff))
    # The base's policy rules over the PR's plan, in the context the plan declares.
    base_config = load_stack_config(stack, base_dir).values
    config, moved = _policy_config(base_config, document)
    if _touches(diff):
        base_document = json.loads(base_path.read_text(encoding="utf-8"))
        touched += [
            (_fleet_row(stack, base_document, base_config), "before"),
            (_fleet_row(stack, document, config), "after"),
        ]
        lines += _picture(document, config, [f.urn for f in diff.flags])
    for change in moved:
        verdict.need(APPROVAL, f"`{stack}`: the stack's {change}")
        lines.append(f"**The stack's {change}**: the policy rules below judge the new one.\n")
    view = view_from_plan(document, config)
    results = evaluate(view)
    report = render_results(results, view.context)
    if mandatory_failures(results):
        verdict.need(FAIL, f"`{stack}`: a mandatory policy rule fails")
        lines.append(f"**Policy: a mandatory rule fails for `{stack}`.**\n")
    lines += [
        f"<details><summary>Policy rules for `{stack}` (base branch rules)</summary>",
        "",
        _code(report),
        "",
        "</details>",
        "",
    ]
    if head_committed is not None:
        committed = head_committed / f"{stack}.json"
        if committed.exists() and committed.read_bytes() != raw:
            verdict.need(FAIL, f"`{stack}`: plans/{stack}.json is stale")
            lines.append(
                f"**plans/{stack}.json is stale**: run `python -m infra.cli plan --stack {stack}"
                f" --format json --output plans/{stack}.json --no-policy` and commit it.\n"
            )
    return lines


def _touches(diff: Diff) -> bool:
    return bool(
        diff.added
        or diff.removed
        or diff.changed
        or diff.renames
        or diff.aliased
        or diff.output_changes
        or diff.new_warnings
    )


def _fleet_row(stack: str, document: dict[str, Any], config: dict[str, Any]) -> FleetRow:
    """The stack's fleet row; the PR's plan is untrusted data, so a plan whose values the row
    cannot read gets a row saying so (the diff and the rules above still judge it)."""
    try:
        return row_from_plan(document, config)
    except Exception as error:  # the row is information, never the verdict
        return row_unplanned(
            stack, config, f"the plan's values cannot be shown ({type(error).__name__})"
        )


def _picture(document: dict[str, Any], config: dict[str, Any], flagged: list[str]) -> list[str]:
    """Where the stack's data lives after the change, its flagged resources in orange (a plan
    whose values cannot be drawn gets no picture: the diff above says everything)."""
    try:
        diagram = statement_from_plan(document, config, flagged=flagged).diagram
    except Exception:  # the picture is information, never the verdict
        return []
    return [
        "**Where the data lives after this change** (orange: flagged; red: outside the"
        " jurisdiction):",
        "",
        fenced(diagram),
    ]


def _policy_config(
    base: dict[str, Any], document: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """The stack config to judge the policy in, and each context change the plan declares.

    Judging an honest move (a stack whose jurisdiction changes from ``eu`` to ``us``) in the
    base's context would fail the residency rules for doing what the change says; judging it in
    a context the plan invents would let a lying plan choose the rules. So the plan's declared
    jurisdiction and environment (its outputs) are used only when valid, and every difference
    from the base's stack file is named for an approval: the new context is never silent.
    """
    outputs = document.get("outputs") or {}
    declared = {
        "jurisdiction": outputs.get("jurisdiction"),
        "environment": outputs.get("environment"),
    }
    valid = {"jurisdiction": {j.value for j in Jurisdiction}, "environment": {"dev", "prod"}}
    config = dict(base)
    moved = []
    for key, value in declared.items():
        was = base.get(f"{PROJECT}:{key}")  # both keys are required (infra/settings.py)
        if value in valid[key] and value != was:
            config[f"{PROJECT}:{key}"] = value
            moved.append(f"{key} changes from `{was}` to `{value}`")
    return config, moved


def judge(
    artifact: Path,
    *,
    base_dir: Path,
    changed_files: list[str] | None = None,
    head_committed: Path | None = None,
    scratch: Path,
) -> tuple[Verdict, str]:
    """The verdict on a PR's artifact and the Markdown comment explaining it."""
    verdict = Verdict()
    files = _read_artifact(artifact)
    head_sha = files["head-sha"].decode("ascii").strip()
    stacks = stack_names(base_dir)
    if not stacks:
        raise ArtifactError(f"{base_dir}: the trusted checkout has no Pulumi.<stack>.yaml")
    project = load_stack_config(stacks[0], base_dir).project
    lines = [
        "## Infrastructure review",
        "",
        f"Offline plans of `{head_sha[:12]}`, judged by the default branch's review tools, risk"
        " table and policy rules. Flags are explained in the README section *Reviewing"
        " infrastructure changes*.",
        "",
    ]
    rows: list[tuple[FleetRow, str]] = []
    sections: list[str] = []
    for stack in stacks:
        sections += _judge_stack(
            stack, files, base_dir, project, head_committed, verdict, scratch, rows
        )
    if rows:
        # Where the changed stacks' data lives, before and after, at a glance (docs/fleet.md).
        lines += ["### Fleet rows this change touches", "", render_rows(rows), ""]
    lines += sections
    planned = {
        m.group("stack")
        for name in files
        if (m := _HEAD_FILE.fullmatch(name.removeprefix("head/"))) and name.startswith("head/")
    }
    for stack in sorted(planned - set(stacks)):
        verdict.need(APPROVAL, f"`{stack}`: a new stack (no stack file on the default branch)")
        lines += [
            f"### Stack `{stack}`: new",
            "",
            "A stack the default branch does not have: its plan is the PR's word and is not"
            " judged here. It needs an approval (and a code owner of `Pulumi.*.yaml`).",
            "",
        ]
    if changed_files is not None:
        touched = protected(changed_files, codeowners_patterns(base_dir))
        if touched:
            verdict.need(
                APPROVAL,
                "the PR changes what the review relies on: " + ", ".join(f"`{p}`" for p in touched),
            )
    heading = {
        PASS: "**Verdict: pass.**",
        APPROVAL: "**Verdict: needs an approval** by a reviewer of the `infra-risk-approval`"
        " environment:",
        FAIL: "**Verdict: fails**:",
    }[verdict.state]
    lines += ["---", "", heading, ""]
    lines += [f"- {reason}" for reason in verdict.reasons]
    return verdict, "\n".join(lines).rstrip() + "\n"


def main(
    artifact: Path,
    *,
    base_dir: Path,
    changed_files: Path | None = None,
    head_committed: Path | None = None,
    output: Path | None = None,
    verdict: Path | None = None,
) -> int:
    import tempfile

    changed = None
    if changed_files is not None:
        changed = [
            line.strip()
            for line in changed_files.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
    with tempfile.TemporaryDirectory() as scratch:
        try:
            result, text = judge(
                artifact,
                base_dir=base_dir,
                changed_files=changed,
                head_committed=head_committed,
                scratch=Path(scratch),
            )
        except (ArtifactError, StackConfigError) as error:
            result = Verdict()
            result.need(FAIL, f"the review cannot run: {error}")
            text = f"## Infrastructure review\n\n**Verdict: fails**: {result.reasons[0]}\n"
    if output is not None:
        output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    if verdict is not None:
        verdict.write_text(
            json.dumps({"state": result.state, "reasons": result.reasons}, indent=2) + "\n",
            encoding="utf-8",
        )
    return result.exit_status
