"""Plans of the example stacks for the review tools, and a way to plan edited copies of them."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def eu_prod_plan() -> dict[str, Any]:
    """The committed plans/eu-prod.json, which test_snapshots.py proves is what the program plans
    now; reading it keeps the Pulumi engine out of the diff tests (``.ci/mutate`` forks them)."""
    return json.loads((ROOT / "plans" / "eu-prod.json").read_text(encoding="utf-8"))


@pytest.fixture
def write_plan(tmp_path: Path) -> Callable[[str, dict[str, Any]], str]:
    """Write a plan document to ``tmp_path/<name>.json`` and return its path."""

    def write(name: str, plan: dict[str, Any]) -> str:
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(plan, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return str(path)

    return write


@pytest.fixture
def project_copy(tmp_path: Path) -> Callable[[str, Callable[[str], str]], Path]:
    """A copy of the project's config files with one stack file edited; returns its folder."""

    def copy(stack: str, edit: Callable[[str], str]) -> Path:
        folder = tmp_path / "project"
        folder.mkdir(exist_ok=True)
        shutil.copy(ROOT / "Pulumi.yaml", folder / "Pulumi.yaml")
        text = (ROOT / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8")
        edited = edit(text)
        assert edited != text, "the edit changed nothing"
        (folder / f"Pulumi.{stack}.yaml").write_text(edited, encoding="utf-8")
        return folder

    return copy


@pytest.fixture(scope="session")
def plan_with_rotation() -> Any:
    """eu-prod planned with two playback key generations (a rotation under way)."""
    from infra.review.offline import synthesize
    from infra.review.plan import load_stack_config

    config = load_stack_config("eu-prod")
    values = {**config.values, "r2-video:signedDeliveryKeyGenerations": "[1, 2]"}
    return synthesize("eu-prod", values, secret_keys=config.secret_keys)
