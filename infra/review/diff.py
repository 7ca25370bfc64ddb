"""``python -m infra.cli diff BASE.json HEAD.json``: an infra change, as a reviewer needs to see it.

Both files are ``plan --format json`` outputs of one stack (the base branch's and the change's).
Resources are matched by URN; the Markdown lists what is added, removed and changed, property by
property, and raises a flag for each dangerous change, explained in one line:

* **DATA LOSS**: a data-bearing resource is removed or replaced, or loses ``protect`` /
  ``retainOnDelete``, or an S3 bucket gets ``forceDestroy``;
* **BORDER**: a jurisdiction, AWS region or partition, or regional-hostname region changes;
* **BORDER**: also a removed regional hostname and a new program warning of a border crossing;
* **ACCESS**: the reviewed rendering of the signed-delivery rule changes;
* **REPLACE**: a property the provider cannot update in place changes (``infra/review/risk.py``).

Exit status: 0 clean (replace flags alone included), 1 when a data-loss, border or access flag
is raised (CI then asks for an explicit approval), 2 on bad input.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.residency import partition_of
from infra.review.policy.rules import looks_like_secret_key
from infra.review.policy.view import SECRET
from infra.review.risk import (
    AWS_PROVIDER,
    BORDER_REMOVALS,
    DATA_BEARING,
    R2_SIPPY,
    REVIEWED_OUTPUTS,
    S3_BUCKET,
    border_properties,
    border_warning,
    is_data_bearing,
    replace_rules,
    sippy_crossing,
)

__all__ = [
    "ACCESS",
    "BORDER",
    "DATA_LOSS",
    "REPLACE",
    "Flag",
    "PlanError",
    "compare",
    "load_plan",
    "main",
]

DATA_LOSS = "data loss"
BORDER = "border"
ACCESS = "access"
REPLACE = "replace"
FLAG_ORDER = (DATA_LOSS, BORDER, ACCESS, REPLACE)
BLOCKING = (DATA_LOSS, BORDER, ACCESS)
FLAG_MEANING = {
    DATA_LOSS: "data can be destroyed: a data-bearing resource is deleted or re-created, or"
    " loses the protection that stops that",
    BORDER: "data moves or would be served from elsewhere: jurisdiction, AWS region/partition"
    " or regional-hostname region changes",
    ACCESS: "who may read the content changes: the signed-delivery rule (key redacted) differs",
    REPLACE: "the provider cannot update this in place: Pulumi deletes and re-creates the resource",
}
MARKER = "<!-- r2-video:infra-diff -->"
_MISSING = object()
_PROTECTED_GUARD = "; it is protected, so `pulumi up` stops until it is unprotected"
# IAM is global: a provider's region does not place or move these (pulumi-aws v7 enhanced
# region support leaves global services out: terraform-provider-aws docs, "Enhanced Region
# Support"), so a region change is no border crossing for them.
_GLOBAL_AWS_PREFIXES = ("aws:iam/",)
_MAX_VALUE = 80
_PEM_OR_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----|\b(AKIA|ASIA)[A-Z0-9]{16}\b")


class PlanError(ValueError):
    """A plan file is unreadable, malformed, or does not match the other one."""


@dataclass(frozen=True)
class Plan:
    path: str
    project: str
    stack: str
    resources: dict[str, dict[str, Any]]
    outputs: dict[str, Any]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Change:
    path: str
    before: Any
    after: Any


@dataclass(frozen=True)
class Flag:
    kind: str
    urn: str
    label: str
    message: str


@dataclass
class Diff:
    base: Plan
    head: Plan
    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    changed: list[tuple[dict[str, Any], dict[str, Any], list[Change]]] = field(default_factory=list)
    renames: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    aliased: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    """(old, new) pairs the change renames with ``aliases``: Pulumi keeps the resource."""
    new_warnings: list[str] = field(default_factory=list)
    moved_with: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Provider URN -> the resources its region change moves (one BORDER row, the provider's)."""
    flags: list[Flag] = field(default_factory=list)
    output_changes: list[Change] = field(default_factory=list)

    @property
    def blocking(self) -> list[Flag]:
        return [f for f in self.flags if f.kind in BLOCKING]

    @property
    def exit_status(self) -> int:
        return 1 if self.blocking else 0


# --- loading -------------------------------------------------------------------------------------


def load_plan(path: str | Path) -> Plan:
    """Read a ``plan --format json`` file; raise PlanError saying what is wrong with it."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise PlanError(f"{path}: cannot read it ({error.strerror or error})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise PlanError(f"{path}: not JSON ({error})") from None
    if not isinstance(document, dict):
        raise PlanError(f"{path}: not a plan (expected a JSON object)")
    missing = [k for k in ("project", "stack", "resources") if k not in document]
    if missing:
        raise PlanError(
            f"{path}: not a plan from `python -m infra.cli plan --format json`"
            f" (missing {', '.join(missing)})"
        )
    resources: dict[str, dict[str, Any]] = {}
    if not isinstance(document["resources"], list):
        raise PlanError(f"{path}: 'resources' must be a list")
    for i, resource in enumerate(document["resources"]):
        if not isinstance(resource, dict) or not {"urn", "type", "name"} <= set(resource):
            raise PlanError(f"{path}: resource {i} has no urn, type and name")
        if resource["urn"] in resources:
            raise PlanError(f"{path}: URN {resource['urn']} appears twice")
        resources[resource["urn"]] = resource
        aliases = resource.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise PlanError(f"{path}: resource {i}: 'aliases' must be a list of URNs")
    outputs = document.get("outputs") or {}
    warnings = document.get("warnings") or []
    if not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
        raise PlanError(f"{path}: 'warnings' must be a list of strings")
    return Plan(
        str(path),
        str(document["project"]),
        str(document["stack"]),
        resources,
        dict(outputs),
        tuple(warnings),
    )


# --- comparing -----------------------------------------------------------------------------------


def _statement_key(statement: Any) -> str:
    """An IAM statement's identity: its ``Sid``, else a digest of its content, so reordering
    statements is no change and an edit shows under the statement it edits."""
    if isinstance(statement, Mapping) and isinstance(statement.get("Sid"), str):
        return f"Sid={statement['Sid']}"
    digest = hashlib.sha256(json.dumps(statement, sort_keys=True).encode()).hexdigest()
    return f"#{digest[:8]}"


def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Flatten a value to (path, leaf); JSON-encoded documents (policies) are opened, and
    policy statements are matched by Sid or content, not position."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        with contextlib.suppress(json.JSONDecodeError):
            value = json.loads(value)
    if isinstance(value, Mapping) and value:
        for key in sorted(value):
            yield from _leaves(value[key], f"{path}.{key}" if path else str(key))
    elif isinstance(value, list) and value and path.endswith("Statement"):
        for item in value:
            yield from _leaves(item, f"{path}[{_statement_key(item)}]")
    elif isinstance(value, list) and value:
        for i, item in enumerate(value):
            yield from _leaves(item, f"{path}[{i}]")
    else:
        yield path, value


def _changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Change]:
    # An empty mapping flattens to one leaf with an empty path: no property, nothing to show.
    old = {path: value for path, value in _leaves(before) if path}
    new = {path: value for path, value in _leaves(after) if path}
    return [
        Change(path, old.get(path, _MISSING), new.get(path, _MISSING))
        for path in sorted(set(old) | set(new))
        if old.get(path, _MISSING) != new.get(path, _MISSING)
    ]


def _top(path: str) -> str:
    return re.split(r"[.\[]", path, maxsplit=1)[0]


def _short_type(type_token: str) -> str:
    return type_token.rsplit(":", 1)[-1]


def _label(resource: Mapping[str, Any]) -> str:
    return f"`{resource['name']}` ({_short_type(resource['type'])})"


def _option_changes(base: Mapping[str, Any], head: Mapping[str, Any]) -> list[Change]:
    changes = []
    for key, shown in (
        ("protect", "(protect)"),
        ("retain_on_delete", "(retainOnDelete)"),
        ("provider", "(provider)"),
        ("parent", "(parent)"),
    ):
        if base.get(key) != head.get(key):
            changes.append(Change(shown, base.get(key), head.get(key)))
    return changes


def _regional_aws(resource: Mapping[str, Any]) -> bool:
    return resource["type"].startswith("aws:") and not resource["type"].startswith(
        _GLOBAL_AWS_PREFIXES
    )


def _aws_region_moves(base: Plan, head: Plan) -> dict[str, tuple[str, str]]:
    """Provider URN -> (old region, new region) for every AWS provider whose region changes."""
    moves = {}
    for urn, old in base.resources.items():
        new = head.resources.get(urn)
        if old["type"] == AWS_PROVIDER and new is not None:
            a = (old.get("inputs") or {}).get("region")
            b = (new.get("inputs") or {}).get("region")
            if a != b:
                moves[urn] = (str(a), str(b))
    return moves


def _flag_changed(
    diff: Diff,
    base: dict[str, Any],
    head: dict[str, Any],
    changes: list[Change],
    moves: dict[str, tuple[str, str]],
) -> None:
    label = _label(head)
    urn = head["urn"]
    rules = replace_rules(head["type"])
    causes = [
        f"`{c.path}` ({rules[_top(c.path)].reason})" for c in changes if _top(c.path) in rules
    ]
    if base.get("provider") != head.get("provider"):
        causes.append("its provider changed")
    for prop, meaning in border_properties(head["type"]).items():
        before = (base.get("inputs") or {}).get(prop, _MISSING)
        after = (head.get("inputs") or {}).get(prop, _MISSING)
        if before != after:
            note = ""
            if (
                "region" in prop.lower()
                and isinstance(before, str)
                and isinstance(after, str)
                and partition_of(before) != partition_of(after)
            ):
                note = f"; partition {partition_of(before)} → {partition_of(after)}"
            diff.flags.append(
                Flag(BORDER, urn, label, f"{meaning}: {_show(before)} → {_show(after)}{note}")
            )
    move = moves.get(head.get("provider") or "")
    if move and _regional_aws(head) and "region" not in (head.get("inputs") or {}):
        # One BORDER row per cause: the provider's own row lists what moves with it.
        diff.moved_with.setdefault(head["provider"], []).append(head)
        causes.append(
            f"its AWS provider moves region ({move[0]} → {move[1]}); pulumi-aws v7 does not"
            " move resources between regions (pulumi/pulumi-aws#5656)"
        )
    data = is_data_bearing(head["type"], protected=bool(base.get("protect")))
    what = DATA_BEARING.get(head["type"], "the program protects it: it holds state")
    if causes:
        diff.flags.append(Flag(REPLACE, urn, label, "replaced: " + "; ".join(causes)))
        if data:
            guard = _PROTECTED_GUARD if base.get("protect") else ""
            diff.flags.append(Flag(DATA_LOSS, urn, label, f"re-created, and {what}{guard}"))
    if base.get("protect") and not head.get("protect"):
        diff.flags.append(
            Flag(DATA_LOSS, urn, label, "`protect` removed: a later change can delete it")
        )
    if base.get("retain_on_delete") and not head.get("retain_on_delete"):
        diff.flags.append(
            Flag(
                DATA_LOSS,
                urn,
                label,
                "`retainOnDelete` removed: removing it from the program will delete it",
            )
        )
    if head["type"] == S3_BUCKET:
        before = (base.get("inputs") or {}).get("forceDestroy")
        after = (head.get("inputs") or {}).get("forceDestroy")
        if after is True and before is not True:
            diff.flags.append(
                Flag(
                    DATA_LOSS,
                    urn,
                    label,
                    "`forceDestroy` turned on: deleting the bucket also deletes every object",
                )
            )


def _renames(
    removed: list[dict[str, Any]], added: list[dict[str, Any]]
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Pairs that look like one resource under a new URN (same type; same name or same parent)."""
    pairs = []
    free = list(added)
    for old in removed:
        same_type = [a for a in free if a["type"] == old["type"]]
        match = [a for a in same_type if a["name"] == old["name"]]
        if not match:
            siblings = [a for a in same_type if a.get("parent") == old.get("parent")]
            match = siblings if len(siblings) == 1 else []
        if match:
            pairs.append((old, match[0]))
            free.remove(match[0])
    return pairs


def compare(base: Plan, head: Plan) -> Diff:
    """The change from ``base`` to ``head``; raise PlanError if they are not the same stack."""
    if base.project != head.project:
        raise PlanError(
            f"the plans are of different projects: {base.path} is {base.project!r},"
            f" {head.path} is {head.project!r}"
        )
    if base.stack != head.stack:
        raise PlanError(
            f"the plans are of different stacks: {base.path} is {base.stack!r},"
            f" {head.path} is {head.stack!r}; diff each stack against its own base"
        )
    diff = Diff(base, head)
    moves = _aws_region_moves(base, head)
    # Old URN -> the head resource that names it in `aliases`: Pulumi moves the state over.
    aliased_by = {
        alias: r
        for r in head.resources.values()
        for alias in r.get("aliases", [])
        if alias not in head.resources
    }
    for urn, old in base.resources.items():
        new = head.resources.get(urn)
        if new is None and urn in aliased_by:
            new = aliased_by[urn]
            diff.aliased.append((old, new))
        if new is None:
            diff.removed.append(old)
            continue
        changes = _changes(old.get("inputs") or {}, new.get("inputs") or {})
        changes += _option_changes(old, new)
        if changes:
            diff.changed.append((old, new, changes))
        if changes or (new.get("provider") in moves and _regional_aws(new)):
            _flag_changed(diff, old, new, changes, moves)
    kept = {id(new) for _old, new in diff.aliased}
    diff.added = [
        r for urn, r in head.resources.items() if urn not in base.resources and id(r) not in kept
    ]
    diff.renames = _renames(diff.removed, diff.added)
    renamed = {id(old): new for old, new in diff.renames}
    for old in diff.removed:
        if is_data_bearing(old["type"], protected=bool(old.get("protect"))):
            what = DATA_BEARING.get(old["type"], "the program protects it: it holds state")
            new = renamed.get(id(old))
            hint = (
                f" (renamed to `{new['name']}`? without `aliases` Pulumi deletes the old one)"
                if new
                else ""
            )
            guard = _PROTECTED_GUARD if old.get("protect") else ""
            if old.get("retain_on_delete"):
                guard += "; retainOnDelete leaves it in the cloud, unmanaged"
            message = f"removed{hint}: {what}{guard}"
            diff.flags.append(Flag(DATA_LOSS, old["urn"], _label(old), message))

    # Structural, whatever the program's warning says: Sippy from outside the jurisdiction.
    def sippy_border(resource: Mapping[str, Any] | None) -> str | None:
        if resource is None or resource["type"] != R2_SIPPY:
            return None
        return sippy_crossing(resource.get("inputs") or {})

    for resource in head.resources.values():
        found = sippy_border(resource)
        if found and found != sippy_border(base.resources.get(resource["urn"])):
            diff.flags.append(Flag(BORDER, resource["urn"], _label(resource), found))
    for provider, moved in diff.moved_with.items():
        names = ", ".join(f"`{r['name']}`" for r in moved)
        for i, flag in enumerate(diff.flags):
            if flag.kind == BORDER and flag.urn == provider:
                message = f"{flag.message}; {len(moved)} resource(s) move with it: {names}"
                diff.flags[i] = Flag(BORDER, flag.urn, flag.label, message)
    for old in diff.removed:
        if old["type"] in BORDER_REMOVALS:
            diff.flags.append(Flag(BORDER, old["urn"], _label(old), BORDER_REMOVALS[old["type"]]))
    diff.new_warnings = [w for w in head.warnings if w not in base.warnings]
    for warning in diff.new_warnings:
        crossing = border_warning(warning)
        if crossing:
            diff.flags.append(
                Flag(BORDER, "", "(program warning)", f"{crossing}: {_show(warning, limit=400)}")
            )
    diff.output_changes = _changes(base.outputs, head.outputs)
    for name, meaning in REVIEWED_OUTPUTS.items():
        before, after = base.outputs.get(name, _MISSING), head.outputs.get(name, _MISSING)
        if before != after:
            label = f"`{name}` (stack output)"
            diff.flags.append(Flag(ACCESS, "", label, f"{meaning}: see *Stack outputs*"))
    order = {kind: i for i, kind in enumerate(FLAG_ORDER)}
    diff.flags.sort(key=lambda f: (order[f.kind], f.urn))
    return diff


# --- rendering -----------------------------------------------------------------------------------


def _mask(path: str, value: Any) -> Any:
    secret_looking = isinstance(value, str) and (
        looks_like_secret_key(path) or _PEM_OR_KEY.search(value) is not None
    )
    return SECRET if secret_looking else value


def _show(value: Any, path: str = "", *, limit: int = _MAX_VALUE) -> str:
    if value is _MISSING:
        return "—"
    value = _mask(path, value)
    text = json.dumps(value) if not isinstance(value, str) else value
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    text = text.replace("`", "'").replace("|", "\\|").replace("\n", " ")
    return f"`{text}`"


def _resource_table(resource: Mapping[str, Any]) -> list[str]:
    lines = ["| property | value |", "| --- | --- |"]
    for path, value in _leaves(resource.get("inputs") or {}):
        if path:
            lines.append(f"| `{path}` | {_show(value, path)} |")
    flags = [f for f in ("protect", "retain_on_delete") if resource.get(f)]
    if flags:
        lines.append(f"| (options) | {', '.join(flags)} |")
    return lines


def render_markdown(diff: Diff) -> str:
    """The PR-comment section for one stack."""
    stack = diff.head.stack
    counts = {kind: len([f for f in diff.flags if f.kind == kind]) for kind in FLAG_ORDER}
    summary = f"{len(diff.added)} added · {len(diff.removed)} removed · {len(diff.changed)} changed"
    shown_flags = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n) or "no flags"
    lines = [f"### Stack `{stack}`: {shown_flags} · {summary}", ""]
    if not (
        diff.added or diff.removed or diff.changed or diff.output_changes or diff.aliased
    ) and not (diff.new_warnings or diff.head.warnings):
        lines += ["No change to this stack's resources or outputs.", ""]
        return "\n".join(lines)
    if diff.blocking:
        lines += [
            "> [!CAUTION]",
            "> This change can destroy data or move it across a border. It needs an explicit"
            " approval: see *Reviewing infrastructure changes* in the README.",
            "",
        ]
    if diff.flags:
        lines += ["| flag | resource | why |", "| --- | --- | --- |"]
        lines += [f"| **{f.kind.upper()}** | {f.label} | {f.message} |" for f in diff.flags]
        lines.append("")
        for kind in FLAG_ORDER:
            if counts[kind]:
                lines.append(f"- **{kind.upper()}**: {FLAG_MEANING[kind]}.")
        lines.append("")
    if diff.head.warnings:
        lines.append("**Warnings from the program** (`pulumi up` prints these too):")
        lines += [
            f"- {'**new** ' if w in diff.new_warnings else ''}{_show(w, limit=400)}"
            for w in diff.head.warnings
        ]
        lines.append("")
    if diff.aliased:
        lines.append("**Renames with `aliases`** (Pulumi keeps the resource and its data):")
        lines += [f"- rename {_label(old)} → `{new['name']}`" for old, new in diff.aliased]
        lines.append("")
    if diff.renames:
        lines.append("**Renames** (a new URN is a remove plus an add; keep the resource with")
        lines.append("`opts=pulumi.ResourceOptions(aliases=[...])` naming the old one):")
        lines += [f"- {_label(old)} → `{new['name']}`" for old, new in diff.renames]
        lines.append("")
    for title, group in (("Added", diff.added), ("Removed", diff.removed)):
        if not group:
            continue
        lines += [f"<details><summary>{title} ({len(group)})</summary>", ""]
        for resource in group:
            lines += [f"**{_label(resource)}** `{resource['type']}`", ""]
            lines += _resource_table(resource)
            lines.append("")
        lines += ["</details>", ""]
    if diff.changed:
        lines += [f"<details open><summary>Changed ({len(diff.changed)})</summary>", ""]
        for _old, new, changes in diff.changed:
            lines += [f"**{_label(new)}** `{new['type']}`", ""]
            lines += ["| property | before | after |", "| --- | --- | --- |"]
            lines += [
                f"| `{c.path}` | {_show(c.before, c.path)} | {_show(c.after, c.path)} |"
                for c in changes
            ]
            lines.append("")
        lines += ["</details>", ""]
    if diff.output_changes:
        lines += ["<details><summary>Stack outputs</summary>", ""]
        lines += ["| output | before | after |", "| --- | --- | --- |"]
        for c in diff.output_changes:
            # A reviewed rendering is shown whole: the point is to read it.
            limit = 2000 if _top(c.path) in REVIEWED_OUTPUTS else _MAX_VALUE
            before, after = (
                _show(c.before, c.path, limit=limit),
                _show(c.after, c.path, limit=limit),
            )
            lines.append(f"| `{c.path}` | {before} | {after} |")
        lines += ["", "</details>", ""]
    lines.append(
        f"<sub>Offline plan (no credentials, no state): secrets show as `{SECRET}`, so a change"
        " to a secret value alone does not appear. `pulumi preview` is the final word.</sub>"
    )
    return "\n".join(lines) + "\n"


def main(base_path: str, head_path: str, *, output: str | None = None) -> int:
    """Compare two plan files and print the Markdown; the exit status as described above."""
    try:
        diff = compare(load_plan(base_path), load_plan(head_path))
    except PlanError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    text = render_markdown(diff)
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return diff.exit_status
