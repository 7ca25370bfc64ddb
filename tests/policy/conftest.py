"""Example-stack plans as the policy rules see them, planned once per session."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infra.review.plan import load_stack_config
from infra.review.policy.view import StackView, view_from_plan

ROOT = Path(__file__).resolve().parents[2]
# Every Pulumi.<stack>.yaml in the project root is an example stack.
EXAMPLE_STACKS = tuple(
    sorted(
        p.name[len("Pulumi.") : -len(".yaml")]
        for p in Path(__file__).resolve().parents[2].glob("Pulumi.*.yaml")
    )
)
PlanDoc = dict[str, Any]


@pytest.fixture(scope="session")
def plans() -> dict[str, tuple[PlanDoc, dict[str, str]]]:
    """stack -> (plan JSON document, stack config), for every example stack.

    The committed ``plans/<stack>.json``: tests/review/test_snapshots.py proves each is byte for
    byte what the program plans now. Reading them keeps the Pulumi engine (gRPC threads) out of
    these tests, so mutation testing can fork per mutant (``.ci/mutate``)."""
    return {
        stack: (
            json.loads((ROOT / "plans" / f"{stack}.json").read_text(encoding="utf-8")),
            load_stack_config(stack).values,
        )
        for stack in EXAMPLE_STACKS
    }


def resource(plan: PlanDoc, type_suffix: str, name: str | None = None) -> dict[str, Any]:
    """The one resource whose type ends with ``type_suffix`` (and has ``name``, if given)."""
    found = [
        r
        for r in plan["resources"]
        if r["type"].endswith(type_suffix) and (name is None or r["name"] == name)
    ]
    assert len(found) == 1, (type_suffix, name, [r["name"] for r in found])
    return found[0]


@pytest.fixture
def view_of(
    plans: dict[str, tuple[PlanDoc, dict[str, str]]],
) -> Callable[..., StackView]:
    """A view of an example stack, after ``edit(plan, config)`` changed a deep copy of it."""

    def build(
        stack: str, edit: Callable[[PlanDoc, dict[str, str]], None] | None = None
    ) -> StackView:
        plan, config = copy.deepcopy(plans[stack])
        if edit is not None:
            edit(plan, config)
        return view_from_plan(plan, config)

    return build
