"""A stack's configuration as the Pulumi CLI would hand it to the program, read from files.

``Pulumi.yaml`` gives project-level defaults, ``Pulumi.<stack>.yaml`` the stack's values;
structured values travel as JSON strings, as the engine passes them. Encrypted (``secure:``)
values cannot be read without the stack's secrets provider: they become ``SECRET``. Light on
purpose (no Pulumi import), so tools that only need config stay fast.

References: https://www.pulumi.com/docs/iac/concepts/config/
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "PROJECT_ROOT",
    "SECRET",
    "StackConfig",
    "StackConfigError",
    "load_stack_config",
    "stack_names",
]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SECRET = "[secret]"  # noqa: S105 - the mask shown in place of a secret
# Stack names become file names: no path separators, no "..".
_STACK_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


class StackConfigError(ValueError):
    """A stack's config file is missing, unreadable or misnamed."""


@dataclass(frozen=True)
class StackConfig:
    project: str
    values: dict[str, str]
    """``"namespace:key" -> str`` exactly as the engine passes config to the program."""
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
    if not _STACK_NAME.fullmatch(stack) or ".." in stack:
        raise StackConfigError(
            f"{stack!r} is not a stack name: use letters, digits, '-', '_' and '.', e.g. eu-prod"
        )
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
    stack_config = _read_yaml(project_dir / f"Pulumi.{stack}.yaml").get("config") or {}
    if not isinstance(stack_config, dict):
        raise StackConfigError(f"Pulumi.{stack}.yaml: 'config:' must be a mapping")
    for key, value in stack_config.items():
        name = _qualify(project, key)
        if isinstance(value, dict) and set(value) == {"secure"}:
            values[name] = SECRET
            secret_keys.append(name)
        else:
            values[name] = _as_config_string(value)
    return StackConfig(project=project, values=values, secret_keys=secret_keys)


def stack_names(project_dir: Path = PROJECT_ROOT) -> list[str]:
    """The stacks of the project: one per ``Pulumi.<stack>.yaml`` (sorted). A file whose name
    is not a valid stack name is an error, not skipped, so a new stack is never missed."""
    names = []
    for path in sorted(project_dir.glob("Pulumi.*.yaml")):
        stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
        if not _STACK_NAME.fullmatch(stack) or ".." in stack:
            raise StackConfigError(f"{path.name}: {stack!r} is not a valid stack name")
        names.append(stack)
    return names
