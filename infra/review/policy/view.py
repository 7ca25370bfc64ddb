"""The neutral view the policy rules read: a stack's resources and context, built from an
offline plan (``view_from_plan``) or, in the CrossGuard pack, from pulumi_policy's resources
(``pack.py``). Nothing here judges; ``rules.py`` does.

Stack context (environment, jurisdiction) comes from the stack's configuration, the same
``r2-video:environment`` / ``r2-video:jurisdiction`` values the program validates: offline from
``Pulumi.<stack>.yaml``, in the pack from ``pulumi.Config`` (the engine hands a policy pack the
stack's config). Where the config is absent the jurisdiction falls back to the one the R2
buckets agree on and the environment to ``prod``, the strict choice; the report names the
source.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from coordinator.endpoints import Jurisdiction
from infra.review.risk import R2_BUCKET

__all__ = [
    "PROJECT",
    "SECRET",
    "UNKNOWN",
    "Resource",
    "Rule",
    "RuleResult",
    "StackContext",
    "StackView",
    "Violation",
    "resolve_context",
    "view_from_plan",
]

PROJECT = "r2-video"
SECRET = "[secret]"  # noqa: S105 - the mask the offline plan shows, not a password
UNKNOWN = "[unknown]"


# --- the neutral view ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resource:
    """One resource as the rules see it, whichever tool produced it."""

    urn: str
    type: str
    name: str
    inputs: Mapping[str, Any]
    parent: str | None = None
    provider: str | None = None
    """URN of the resource's provider."""
    protect: bool = False
    retain_on_delete: bool | None = None
    """None where the tool does not say (pulumi_policy does not expose it)."""
    depends_on: tuple[str, ...] = ()
    property_dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StackContext:
    environment: str
    jurisdiction: Jurisdiction
    source: str
    """Where the two values came from, for the report."""
    secrets_masked: bool = True
    """True offline (secrets read "[secret]"); False in a policy pack, which sees plaintext."""

    @property
    def production(self) -> bool:
        return self.environment == "prod"


@dataclass(frozen=True)
class StackView:
    resources: tuple[Resource, ...]
    context: StackContext

    def of_type(self, type_token: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_token]

    def get(self, urn: str | None) -> Resource | None:
        return next((r for r in self.resources if r.urn == urn), None) if urn else None

    def aws_region(self, resource: Resource) -> str | None:
        """The AWS region a resource lives in: its own ``region`` input, else its provider's."""
        own = resource.inputs.get("region")
        if _known(own):
            return own
        provider = self.get(resource.provider)
        region = provider.inputs.get("region") if provider else None
        return region if _known(region) else None


@dataclass(frozen=True, slots=True)
class Violation:
    message: str
    urn: str | None = None


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    check: Callable[[StackView], Iterator[Violation]]
    mandatory: bool = True


@dataclass(frozen=True)
class RuleResult:
    rule: Rule
    violations: tuple[Violation, ...]

    @property
    def passed(self) -> bool:
        return not self.violations


def _known(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and value not in ("", SECRET, UNKNOWN)


def _label(resource: Resource) -> str:
    return f"{resource.name} ({resource.type.rsplit(':', 1)[-1]})"


# --- helpers over inputs -------------------------------------------------------------------------


def _strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string inside ``value`` with its path; JSON-encoded documents are opened."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}[{i}]")
    elif isinstance(value, str):
        document = _json_document(value)
        if document is not None:
            yield from _strings(document, path)
        else:
            yield path, value


def _json_document(value: str) -> Any:
    if value[:1] not in ("{", "["):
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _refers_to(child: Resource, target: Resource, prop: str, target_name: str | None) -> bool:
    """True when ``child``'s ``prop`` points at ``target``: same name, or a recorded dependency."""
    value = child.inputs.get(prop)
    if _known(value) and target_name is not None and value == target_name:
        return True
    if target.urn in child.property_dependencies.get(prop, ()):
        return True
    return not _known(value) and target.urn in child.depends_on


# --- where the view and context come from --------------------------------------------------------


def resolve_context(
    config: Mapping[str, Any], resources: tuple[Resource, ...], *, secrets_masked: bool = True
) -> StackContext:
    """Environment and jurisdiction from the stack config, else from the resources (see above)."""
    sources = []
    environment = config.get(f"{PROJECT}:environment")
    if environment in ("dev", "prod"):
        sources.append("environment from the stack config")
    else:
        environment = "prod"
        sources.append("environment not configured: prod rules apply")
    raw = config.get(f"{PROJECT}:jurisdiction")
    try:
        jurisdiction = Jurisdiction(raw)
        sources.append("jurisdiction from the stack config")
    except ValueError:
        seen = {
            r.inputs.get("jurisdiction") or Jurisdiction.DEFAULT.value
            for r in resources
            if r.type == R2_BUCKET
        }
        found = seen.pop() if len(seen) == 1 else None
        if found in {j.value for j in Jurisdiction}:
            jurisdiction = Jurisdiction(found)
            sources.append("jurisdiction from the R2 bucket")
        else:
            jurisdiction = Jurisdiction.DEFAULT
            sources.append("jurisdiction unknown: default")
    return StackContext(
        environment=str(environment),
        jurisdiction=jurisdiction,
        source="; ".join(sources),
        secrets_masked=secrets_masked,
    )


def view_from_plan(plan: Mapping[str, Any], config: Mapping[str, Any]) -> StackView:
    """The view of an offline plan (``plan --format json`` document) with its stack config."""
    resources = tuple(
        Resource(
            urn=r["urn"],
            type=r["type"],
            name=r["name"],
            inputs=r.get("inputs") or {},
            parent=r.get("parent"),
            provider=r.get("provider"),
            protect=bool(r.get("protect")),
            retain_on_delete=bool(r.get("retain_on_delete")),
            depends_on=tuple(r.get("depends_on") or ()),
        )
        for r in plan.get("resources", [])
    )
    return StackView(resources, resolve_context(config, resources))
