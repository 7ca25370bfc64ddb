"""The offline plan: a stack's config files in, what ``pulumi up`` would create out.

Reads ``Pulumi.yaml`` and ``Pulumi.<stack>.yaml`` the way the Pulumi CLI does (project-level
defaults, then the stack's values; structured values passed as JSON), runs the real program
under mocks, and renders the result as a table for people or as stable JSON for machines and
diffs. Encrypted (``secure:``) values cannot be read without the stack's secrets provider; they
stay masked and so does every secret the program derives.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from infra.offline import SECRET, Synthesis, synthesize

__all__ = ["StackConfigError", "load_stack_config", "plan_stack", "render_json", "render_table"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
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


class StackConfigError(ValueError):
    """A stack's config file is missing or unreadable."""


@dataclass(frozen=True)
class StackConfig:
    project: str
    values: dict[str, str]
    secret_keys: list[str]


def _as_config_string(value: Any) -> str:
    # The engine hands the program strings: structured values as JSON, booleans lowercase.
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise StackConfigError(f"{path} does not exist") from None
    except yaml.YAMLError as error:
        raise StackConfigError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise StackConfigError(f"{path} must hold a mapping")
    return data


def _qualify(project: str, key: str) -> str:
    return key if ":" in key else f"{project}:{key}"


def load_stack_config(stack: str, project_dir: Path = PROJECT_ROOT) -> StackConfig:
    """Merge project-level and stack config into the ``"ns:key" -> str`` map the engine passes."""
    project_file = _read_yaml(project_dir / "Pulumi.yaml")
    project = str(project_file.get("name", ""))
    if not project:
        raise StackConfigError(f"{project_dir / 'Pulumi.yaml'} has no project name")
    values: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, spec in (project_file.get("config") or {}).items():
        # Project-level config is either a bare value or a schema with `value` / `default`.
        if isinstance(spec, dict) and ("value" in spec or "default" in spec):
            spec = spec.get("value", spec.get("default"))
        values[_qualify(project, key)] = _as_config_string(spec)
    stack_file = project_dir / f"Pulumi.{stack}.yaml"
    for key, value in (_read_yaml(stack_file).get("config") or {}).items():
        name = _qualify(project, key)
        if isinstance(value, dict) and set(value) == {"secure"}:
            values[name] = SECRET
            secret_keys.append(name)
        else:
            values[name] = _as_config_string(value)
    return StackConfig(project=project, values=values, secret_keys=secret_keys)


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
    return "\n".join(line.rstrip() for line in lines) + "\n"
