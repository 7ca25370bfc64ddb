"""``python -m infra.cli judge-preview PREVIEW.json``: the deploy judges what it is about to do.

The offline plan a pull request shows is computed by the pull request's own program, which can
lie. The deploy workflow (trusted: it runs from main) therefore runs ``pulumi preview --json``
against the real state first and hands the result to this judge, which applies the SAME risk
table as the offline diff: it turns the preview's steps into the two plans ``diff.compare``
reads (old states as the base, new states as the head) and adds what only the engine knows
(a ``replace`` op, replace reasons, a change of a secret value). ``pulumi up`` runs only when
this exits 0; a DATA LOSS, BORDER or ACCESS flag exits 1 unless the run was approved
(``--approved``, which the workflow passes only behind the risk-approval environment).

The preview document (pulumi/pulumi ``pkg/display/json.go``, ``PreviewDigest``; written by
``pkg/backend/display/json.go``) is one object: ``steps`` (each ``op``, ``urn``, ``provider``,
``oldState`` / ``newState`` as ``sdk/go/common/apitype`` ``ResourceV3`` with ``type``,
``inputs``, ``outputs``, ``parent``, ``protect``, ``retainOnDelete``, ``provider``,
``aliases``; ``diffReasons``, ``replaceReasons``, ``detailedDiff``), ``diagnostics`` (``urn``,
``message``, ``severity``), ``changeSummary``, ``config``. Secret values are the string
``"[secret]"`` there (``MassageSecrets`` with showSecrets false); policy results are not in it.
Step ops: ``pkg/resource/deploy/step.go`` (``same``, ``create``, ``update``, ``delete``,
``replace``, ``create-replacement``, ``delete-replaced``, ``read``, ``refresh``, ``import``...).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.review.diff import (
    BORDER,
    DATA_LOSS,
    FLAG_ORDER,
    REPLACE,
    Change,
    Diff,
    Flag,
    Plan,
    PlanError,
    compare,
    render_markdown,
)
from infra.review.policy.view import SECRET
from infra.review.risk import DATA_BEARING, border_properties, is_data_bearing

__all__ = ["MAX_PREVIEW_BYTES", "Preview", "check_update_plan", "judge", "load_preview", "main"]

MAX_PREVIEW_BYTES = 50 * 1024 * 1024
STACK_TYPE = "pulumi:pulumi:Stack"
REPLACE_OPS = frozenset({"replace", "create-replacement", "delete-replaced"})
# Ops that leave the resource in the new state (absent old state: created).
_OPS = frozenset(
    {
        "same",
        "create",
        "update",
        "delete",
        "read",
        "refresh",
        "import",
        "import-replacement",
        "read-replacement",
        "discard",
        "discard-replaced",
        "remove-pending-replace",
        "diff",
    }
    | REPLACE_OPS
)
_DELETE_OPS = frozenset({"delete", "discard"})


@dataclass(frozen=True)
class Step:
    op: str
    urn: str
    old: Mapping[str, Any] | None
    new: Mapping[str, Any] | None
    diff_reasons: tuple[str, ...]
    replace_reasons: tuple[str, ...]


@dataclass(frozen=True)
class Preview:
    path: str
    stack: str
    project: str
    steps: tuple[Step, ...]
    warnings: tuple[str, ...]


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PlanError(f"{where} must be a list of strings")
    return tuple(value)


def _state(value: Any, where: str) -> Mapping[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        raise PlanError(f"{where} must be a resource state with a 'type'")
    for key in ("inputs", "outputs"):
        if not isinstance(value.get(key, {}), dict):
            raise PlanError(f"{where}.{key} must be an object")
    _strings(value.get("aliases"), f"{where}.aliases")
    return value


def _urn_parts(urn: str) -> tuple[str, str, str]:
    """(stack, project, name) of ``urn:pulumi:<stack>::<project>::<type>::<name>``."""
    parts = urn.split("::")
    if len(parts) < 4 or not parts[0].startswith("urn:pulumi:"):
        raise PlanError(f"{urn!r} is not a Pulumi URN")
    return parts[0].removeprefix("urn:pulumi:"), parts[1], parts[-1]


def load_preview(path: str | Path) -> Preview:
    """Read ``pulumi preview --json`` output; raise PlanError saying what is wrong with it."""
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        raise PlanError(f"{path}: cannot read it ({error.strerror or error})") from None
    if len(raw) > MAX_PREVIEW_BYTES:
        raise PlanError(f"{path}: larger than {MAX_PREVIEW_BYTES} bytes")
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise PlanError(f"{path}: not JSON ({error})") from None
    if not isinstance(document, dict):
        raise PlanError(f"{path}: not a `pulumi preview --json` document (expected an object)")
    steps_raw = document.get("steps")
    steps_raw = [] if steps_raw is None else steps_raw
    if not isinstance(steps_raw, list):
        raise PlanError(f"{path}: 'steps' must be a list")
    steps = []
    stacks: set[tuple[str, str]] = set()
    for i, step in enumerate(steps_raw):
        where = f"{path}: step {i}"
        if not isinstance(step, dict):
            raise PlanError(f"{where} is not an object")
        op, urn = step.get("op"), step.get("urn")
        if op not in _OPS:
            raise PlanError(f"{where}: unknown op {op!r}; the judge refuses what it cannot read")
        if not isinstance(urn, str):
            raise PlanError(f"{where}: no urn")
        stack, project, _ = _urn_parts(urn)
        stacks.add((stack, project))
        if not isinstance(step.get("detailedDiff") or {}, dict):
            raise PlanError(f"{where}: 'detailedDiff' must be an object")
        detailed = tuple((step.get("detailedDiff") or {}).keys())
        steps.append(
            Step(
                op=op,
                urn=urn,
                old=_state(step.get("oldState"), f"{where}.oldState"),
                new=_state(step.get("newState"), f"{where}.newState"),
                diff_reasons=_strings(step.get("diffReasons"), f"{where}.diffReasons") + detailed,
                replace_reasons=_strings(step.get("replaceReasons"), f"{where}.replaceReasons"),
            )
        )
    if len(stacks) > 1:
        raise PlanError(f"{path}: steps of more than one stack: {sorted(stacks)}")
    stack, project = next(iter(stacks), ("", ""))
    diagnostics = document.get("diagnostics")
    diagnostics = [] if diagnostics is None else diagnostics
    if not isinstance(diagnostics, list) or not all(isinstance(d, dict) for d in diagnostics):
        raise PlanError(f"{path}: 'diagnostics' must be a list of objects")
    warnings = tuple(
        str(d.get("message", "")).strip() for d in diagnostics if d.get("severity") == "warning"
    )
    return Preview(str(path), stack, project, tuple(steps), warnings)


def _as_planned(urn: str, state: Mapping[str, Any]) -> dict[str, Any]:
    """A preview state in the offline plan's resource shape (what ``diff.compare`` reads)."""
    provider = state.get("provider") or None
    return {
        "urn": urn,
        "type": state["type"],
        "name": _urn_parts(urn)[2],
        "parent": state.get("parent") or None,
        # "<provider urn>::<id>": the URN is what identifies it across runs.
        "provider": provider.rsplit("::", 1)[0] if isinstance(provider, str) else None,
        "protect": bool(state.get("protect")),
        "retain_on_delete": bool(state.get("retainOnDelete")),
        "inputs": dict(state.get("inputs") or {}),
        "aliases": list(state.get("aliases") or []),
    }


def _plans(preview: Preview) -> tuple[Plan, Plan]:
    base: dict[str, dict[str, Any]] = {}
    head: dict[str, dict[str, Any]] = {}
    outputs: tuple[dict[str, Any], dict[str, Any]] = ({}, {})
    for step in preview.steps:
        if (step.new or step.old or {}).get("type") == STACK_TYPE:
            outputs = (
                dict((step.old or {}).get("outputs") or {}),
                dict((step.new or {}).get("outputs") or {}),
            )
            continue
        if step.old is not None and step.op not in ("create", "create-replacement"):
            base.setdefault(step.urn, _as_planned(step.urn, step.old))
        if step.new is not None and step.op not in _DELETE_OPS and step.op != "delete-replaced":
            head[step.urn] = _as_planned(step.urn, step.new)
        elif step.op == "delete-replaced" and step.urn not in head and step.old is not None:
            head[step.urn] = _as_planned(step.urn, step.old)  # replaced, not gone
    name = f"{preview.path} (pulumi preview)"
    return (
        Plan(name, preview.project, preview.stack, base, outputs[0]),
        Plan(name, preview.project, preview.stack, head, outputs[1], preview.warnings),
    )


def _label(urn: str, type_token: str) -> str:
    return f"`{_urn_parts(urn)[2]}` ({type_token.rsplit(':', 1)[-1]})"


def _leaf(value: Any, path: str) -> Any:
    """The value at ``a.b[0].c`` in ``value``, or None."""
    for part in path.replace("]", "").replace("[", ".").split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _show_hidden_changes(diff: Diff, step: Step) -> None:
    """A change the engine reports on a value both states mask as ``[secret]``: the offline
    diff sees equal masks, so it is listed here, with the value hidden."""
    if step.old is None or step.new is None:
        return
    hidden = []
    reasons = list(dict.fromkeys(step.diff_reasons))
    # The most precise path only: "rules" when "rules[0].expression" is also given.
    reasons = [r for r in reasons if not any(o != r and o.startswith(r) for o in reasons)]
    for reason in reasons:
        before = _leaf(step.old.get("inputs") or {}, reason)
        after = _leaf(step.new.get("inputs") or {}, reason)
        if before == after and SECRET in json.dumps(before):
            hidden.append(Change(reason, SECRET, f"{SECRET} (changed)"))
    if not hidden:
        return
    for _old, new, changes in diff.changed:
        if new["urn"] == step.urn:
            changes.extend(hidden)
            return
    old = _as_planned(step.urn, step.old)
    diff.changed.append((old, _as_planned(step.urn, step.new), hidden))


def judge(preview: Preview) -> Diff:
    """The offline diff's verdict over the preview's states, plus what only the engine knows."""
    base, head = _plans(preview)
    diff = compare(base, head)
    seen = {(f.kind, f.urn) for f in diff.flags}

    def add(kind: str, urn: str, label: str, message: str) -> None:
        if (kind, urn) not in seen:
            seen.add((kind, urn))
            diff.flags.append(Flag(kind, urn, label, message))

    for step in preview.steps:
        state = step.new or step.old
        if state is None or state["type"] == STACK_TYPE:
            continue
        label = _label(step.urn, state["type"])
        protected = bool((step.old or {}).get("protect"))
        if step.op in REPLACE_OPS:
            reasons = ", ".join(f"`{r}`" for r in step.replace_reasons) or "the provider says so"
            add(REPLACE, step.urn, label, f"replaced by the provider: {reasons}")
            if is_data_bearing(state["type"], protected=protected):
                what = DATA_BEARING.get(state["type"], "the program protects it: it holds state")
                guard = (
                    "; it is protected, so `pulumi up` stops until it is unprotected"
                    if protected
                    else ""
                )
                add(DATA_LOSS, step.urn, label, f"re-created, and {what}{guard}")
        # A border property whose values are masked still shows in the engine's diff keys.
        changed = {reason.split(".", 1)[0].split("[", 1)[0] for reason in step.diff_reasons}
        _show_hidden_changes(diff, step)
        for prop, meaning in border_properties(state["type"]).items():
            if prop in changed and step.old is not None:
                add(BORDER, step.urn, label, f"{meaning}: changed (value hidden: {SECRET})")
    order = {kind: i for i, kind in enumerate(FLAG_ORDER)}
    diff.flags.sort(key=lambda f: (order[f.kind], f.urn))
    return diff


def render(diff: Diff, *, approved: bool) -> str:
    text = render_markdown(diff)
    footer = text.rfind("<sub>Offline plan")
    if footer != -1:
        text = text[:footer] + (
            "<sub>`pulumi preview --json` against the stack's state: a change to a secret value"
            f" shows as `{SECRET} (changed)`.</sub>\n"
        )
    if diff.blocking:
        verdict = (
            "**Approved run**: a reviewer of the risk-approval environment approved this deploy."
            if approved
            else "**Refused**: `pulumi up` does not run on a DATA LOSS, BORDER or ACCESS flag"
            " unless the run is approved (README, *Deploying*)."
        )
        text += "\n" + verdict + "\n"
    return text


def check_update_plan(preview: Preview, plan_path: str | Path) -> None:
    """Refuse an update plan (``pulumi preview --save-plan``) that is not the judged preview's.

    ``pulumi up --plan`` applies only what the plan records, so the judged preview is what is
    applied only if the plan records every change the preview showed. A plan saved without
    ``PULUMI_EXPERIMENTAL`` was once written empty (pulumi/pulumi#8889), which ``up --plan``
    would read as "nothing planned": an empty plan, or one missing a URN the preview changes,
    is refused. Shape: ``DeploymentPlanV1`` (sdk/go/common/apitype/plan.go): ``manifest``,
    ``config``, ``resourcePlans`` (URN -> ``ResourcePlanV1`` with ``steps``)."""
    path = Path(plan_path)
    try:
        if path.stat().st_size > MAX_PREVIEW_BYTES:
            raise PlanError(f"{path}: larger than {MAX_PREVIEW_BYTES} bytes")
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise PlanError(f"{path}: not an update plan ({error})") from None
    plans = document.get("resourcePlans") if isinstance(document, dict) else None
    if not isinstance(plans, dict) or not plans:
        raise PlanError(
            f"{path}: the update plan records no resource (saved without"
            " PULUMI_EXPERIMENTAL=true?);"
            " `pulumi up --plan` would not be bound to the judged preview"
        )
    missing = sorted({s.urn for s in preview.steps if s.op != "same"} - set(plans))
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise PlanError(
            f"{path}: the update plan lacks {len(missing)} resource(s) the judged preview changes:"
            f" {shown}; it is not this preview's plan"
        )


def main(
    path: str, *, output: str | None = None, approved: bool = False, plan: str | None = None
) -> int:
    """Exit 0: `pulumi up` may run; 1: a blocking flag and no approval; 2: unreadable preview,
    or (with ``plan``) an update plan that is not the preview's."""
    try:
        preview = load_preview(path)
        if plan is not None:
            check_update_plan(preview, plan)
        diff = judge(preview)
    except PlanError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    text = render(diff, approved=approved)
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 1 if diff.blocking and not approved else 0
