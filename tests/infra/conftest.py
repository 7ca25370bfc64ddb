"""Fixtures for the Pulumi program under mocks: example stacks, planned once per test session."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from infra.review import offline
from infra.review.offline import Synthesis, synthesize
from infra.review.plan import load_stack_config, plan_stack

EXAMPLE_STACKS = ("dev", "eu-prod", "fedramp")


@pytest.fixture(scope="session")
def planned() -> dict[str, Synthesis]:
    """The offline plan of every example stack, as committed."""
    return {stack: plan_stack(stack) for stack in EXAMPLE_STACKS}


@pytest.fixture
def plan_with() -> Callable[..., Synthesis]:
    """Plan an example stack with some config keys replaced (None removes a key)."""

    def run(stack: str, **overrides: str | None) -> Synthesis:
        config = load_stack_config(stack)
        values = dict(config.values)
        for key, value in overrides.items():
            name = f"r2-video:{key}"
            if value is None:
                values.pop(name, None)
            else:
                values[name] = value
        return synthesize(stack, values, secret_keys=config.secret_keys)

    return run


@pytest.fixture
def registrations(monkeypatch) -> Callable[..., tuple[Synthesis, list[Any]]]:
    """Plan an example stack (config overrides as in ``plan_with``) and return the plan with the
    raw RegisterResource requests, whose resource options (replaceOnChanges, importId, ...)
    the plan does not record."""
    seen: list[Any] = []
    original = offline._RecordingMonitor.RegisterResource

    def record(self, request):
        seen.append(request)
        return original(self, request)

    monkeypatch.setattr(offline._RecordingMonitor, "RegisterResource", record)

    def run(stack: str, **overrides: str | None) -> tuple[Synthesis, list[Any]]:
        seen.clear()
        config = load_stack_config(stack)
        values = dict(config.values)
        for key, value in overrides.items():
            if value is None:
                values.pop(f"r2-video:{key}", None)
            else:
                values[f"r2-video:{key}"] = value
        plan = synthesize(stack, values, secret_keys=config.secret_keys)
        return plan, list(seen)

    return run
