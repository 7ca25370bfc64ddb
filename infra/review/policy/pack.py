"""The CrossGuard side: the rules of ``rules.py`` as pulumi_policy stack policies.

``pulumi preview --policy-pack infra/review/policy`` runs ``infra/review/policy/__main__.py``,
which builds a ``PolicyPack`` from ``policies()``. Each rule becomes one
``StackValidationPolicy`` (a stack policy, because most rules relate resources: a bucket and
its public access block, a child and its bucket). What pulumi_policy 1.21 exposes, and the
gaps that follow:

* ``PolicyResource.props`` are the resource's outputs (inputs plus what the provider computed);
  values unknown during preview raise ``UnknownValueError`` on access: they become
  ``"[unknown]"`` here and the rules skip them.
* ``PolicyResourceOptions`` has ``protect`` but no ``retain_on_delete``: the pack checks
  protection only; the offline plan checks both.
* Secrets arrive as plaintext with no mark (pulumi/pulumi-policy#241), so the pack cannot tell a
  secret input from a plain one: ``no-plain-secrets`` keeps only its value patterns (PEM private
  keys, AWS access key ids) and is advisory there; the offline plan, where secrets are masked,
  also applies the key-name check.
* The stack's config reaches the pack through ``pulumi.Config`` (pulumi/pulumi#3612), which is
  where ``resolve_context`` reads the environment and jurisdiction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pulumi
from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from infra.review.policy.rules import RULES
from infra.review.policy.view import PROJECT, UNKNOWN, Resource, Rule, StackView, resolve_context

__all__ = ["PACK_NAME", "policies", "view_from_policy_resources"]

PACK_NAME = "r2-video"
# Rules the pack cannot enforce as strictly as the offline plan (see the module docstring).
ADVISORY_IN_PACK = frozenset({"no-plain-secrets"})


def _plain(value: Any) -> Any:
    """Copy pulumi_policy's proxies into plain data, turning unknown values into "[unknown]"."""
    if isinstance(value, Mapping):
        result = {}
        for key in value:
            try:
                item = value[key]
            except UnknownValueError:
                result[key] = UNKNOWN
                continue
            result[key] = _plain(item)
        return result
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple) or (
        hasattr(value, "__len__") and hasattr(value, "__getitem__")
    ):
        items = []
        for i in range(len(value)):
            try:
                items.append(_plain(value[i]))
            except UnknownValueError:
                items.append(UNKNOWN)
        return items
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the engine sends every number as a double (see infra/review/offline.py)
    return value


def _neutral(resource: PolicyResource) -> Resource:
    return Resource(
        urn=resource.urn,
        type=resource.resource_type,
        name=resource.name,
        inputs=_plain(resource.props),
        parent=resource.parent.urn if resource.parent is not None else resource.opts.parent,
        provider=resource.provider.urn if resource.provider is not None else None,
        protect=bool(resource.opts.protect),
        retain_on_delete=None,
        depends_on=tuple(d.urn for d in resource.dependencies),
        property_dependencies={
            key: tuple(d.urn for d in deps) for key, deps in resource.property_dependencies.items()
        },
    )


def view_from_policy_resources(
    resources: list[PolicyResource], config: Mapping[str, Any]
) -> StackView:
    """The neutral view of a stack as pulumi_policy hands it to a stack policy."""
    neutral = {r.urn: _neutral(r) for r in resources}
    # Providers are resources of the stack, but add any only known through a reference.
    for r in resources:
        p = r.provider
        if p is not None and p.urn not in neutral:
            neutral[p.urn] = Resource(
                urn=p.urn, type=p.resource_type, name=p.name, inputs=_plain(p.props)
            )
    ordered = tuple(neutral.values())
    return StackView(ordered, resolve_context(config, ordered, secrets_masked=False))


def _stack_config() -> dict[str, Any]:
    config = pulumi.Config(PROJECT)
    return {f"{PROJECT}:{key}": config.get(key) for key in ("environment", "jurisdiction")}


def _validator(
    rule: Rule, config: Callable[[], Mapping[str, Any]]
) -> Callable[[StackValidationArgs, ReportViolation], None]:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        view = view_from_policy_resources(args.resources, config())
        for violation in rule.check(view):
            report_violation(violation.message, violation.urn)

    return validate


def policies(
    config: Callable[[], Mapping[str, Any]] = _stack_config,
) -> list[StackValidationPolicy]:
    """One stack policy per rule; ``config`` gives the stack config (``ns:key`` -> value)."""
    return [
        StackValidationPolicy(
            name=rule.name,
            description=rule.description,
            validate=_validator(rule, config),
            enforcement_level=(
                EnforcementLevel.MANDATORY
                if rule.mandatory and rule.name not in ADVISORY_IN_PACK
                else EnforcementLevel.ADVISORY
            ),
        )
        for rule in RULES
    ]
