"""The offline plan: a stack's config files in, what ``pulumi up`` would create out.

Reads the stack's config files the way the Pulumi CLI does (``infra.stack_config``), runs the
real program under mocks, and renders the result as a table for people or as stable JSON for
machines and diffs. Encrypted config values and every secret the program derives stay masked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from infra.review.offline import Synthesis, synthesize
from infra.stack_config import PROJECT_ROOT, SECRET, StackConfigError, load_stack_config

__all__ = ["StackConfigError", "load_stack_config", "plan_stack", "render_json", "render_table"]

# Inputs that identify rather than describe; they make the table wide and say little.
_QUIET_INPUTS = {
    "accountId",
    "zoneId",
    "__defaults",
    "policy",
    "defaultTags",
    "skipCredentialsValidation",
    "skipRegionValidation",
}
_MAX_CELL = 48


def plan_stack(stack: str, project_dir: Path = PROJECT_ROOT) -> Synthesis:
    """The offline plan of ``stack``: its config files, the real program, mocks for the cloud."""
    config = load_stack_config(stack, project_dir)
    return synthesize(stack, config.values, secret_keys=config.secret_keys, project=config.project)


def render_json(plan: Synthesis) -> str:
    """Stable, sorted JSON: the same program and config always give the same bytes."""
    document = {
        "project": plan.project,
        "stack": plan.stack,
        "resources": [r.to_json() for r in plan.resources],
        "outputs": plan.outputs,
        "warnings": plan.warnings,
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def _short_type(token: str) -> str:
    # "cloudflare:index/r2Bucket:R2Bucket" -> "cloudflare:R2Bucket",
    # "aws:s3/bucket:Bucket" -> "aws:s3:Bucket"
    package, module, name = [*token.split(":"), "", ""][:3]
    if module.startswith("index/") or not name:
        return f"{package}:{name or module}"
    return f"{package}:{module.split('/')[0]}:{name}"


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return (
            f"[{len(value)} items]"
            if value and not all(isinstance(v, str) for v in value)
            else ",".join(value)
        )
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 1] + "…"


def _key_inputs(inputs: dict[str, Any]) -> str:
    shown = [
        f"{key}={_cell(value)}"
        for key, value in sorted(inputs.items())
        if key not in _QUIET_INPUTS and not isinstance(value, dict)
    ]
    return " ".join(shown)


def render_table(plan: Synthesis) -> str:
    """A human-readable plan: one row per resource, then the stack outputs."""
    names = {r.urn: r.name for r in plan.resources}
    rows = [("TYPE", "NAME", "PARENT", "FLAGS", "KEY INPUTS")]
    for r in plan.resources:
        flags = ",".join(
            f for f, on in (("protect", r.protect), ("retain", r.retain_on_delete)) if on
        )
        parent = names.get(r.parent or "", "")
        rows.append((_short_type(r.type), r.name, parent, flags or "-", _key_inputs(r.inputs)))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [f"Plan for stack {plan.stack!r} ({len(plan.resources)} resources, offline)", ""]
    for row in rows:
        lines.append(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
            + "  "
            + row[4]
        )
    lines += ["", "Outputs:"]
    width = max((len(k) for k in plan.outputs), default=0)
    for key, value in plan.outputs.items():
        shown = value if value == SECRET else json.dumps(value)
        lines.append(f"  {key.ljust(width)}  {shown}")
    if plan.warnings:
        lines += ["", "Warnings:"]
        lines += [f"  warning: {message}" for message in plan.warnings]
    return "\n".join(line.rstrip() for line in lines) + "\n"
