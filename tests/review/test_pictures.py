"""The pictures (Mermaid) of the residency statement, the PR comment and the cost report: valid
for Mermaid's own parser, and they change when where the data lives changes."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from infra.cost import model as cost
from infra.review.offline import synthesize
from infra.review.plan import render_json
from infra.review.residency_statement import render_markdown, statement_from_plan
from infra.stack_config import load_stack_config
from tests.mermaid.check import mermaid_blocks, parse

ROOT = Path(__file__).resolve().parents[2]
STACKS = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in ROOT.glob("Pulumi.*.yaml"))


def _plan(stack: str) -> dict[str, Any]:
    return json.loads((ROOT / "plans" / f"{stack}.json").read_text(encoding="utf-8"))


def _picture(stack: str, plan: dict[str, Any] | None = None, **kw: Any) -> str:
    config = load_stack_config(stack).values
    return statement_from_plan(plan or _plan(stack), config, **kw).diagram


def test_the_parser_refuses_what_is_not_mermaid():
    # The check can fail: a label left open and a chart with a bar list cut short.
    results = parse(['flowchart LR\n  a["open --> b\n', "xychart-beta\n  bar [1,\n"])
    assert [r["ok"] for r in results] == [False, False], results


def test_every_picture_the_tools_draw_parses_as_mermaid(capsys):
    diagrams = {f"residency {s}": _picture(s) for s in STACKS}
    diagrams["docs/residency-eu-prod.md"] = mermaid_blocks(
        (ROOT / "docs" / "residency-eu-prod.md").read_text(encoding="utf-8")
    )[0]
    assert cost.main(["--stack", "dev", "--format", "markdown"]) == 0
    (diagrams["cost dev"],) = mermaid_blocks(capsys.readouterr().out)
    flagged = [r["urn"] for r in _plan("eu-prod")["resources"]][:3]
    diagrams["flagged eu-prod"] = _picture("eu-prod", flagged=flagged)
    results = dict(zip(diagrams, parse(list(diagrams.values())), strict=True))
    bad = {name: r["error"] for name, r in results.items() if not r["ok"]}
    assert not bad, bad
    assert results["cost dev"]["type"] == "xychart"
    assert {r["type"] for n, r in results.items() if n != "cost dev"} == {"flowchart-v2"}


def _boxes(diagram: str) -> list[str]:
    return re.findall(r'subgraph n\d+\["([^"]*)"\]', diagram)


def test_a_jurisdiction_flip_changes_the_picture():
    # eu-prod planned for real as a us stack: the boxes say us, and say nothing of eu.
    config = load_stack_config("eu-prod")
    values = {k: v for k, v in config.values.items() if k != "r2-video:sippy"} | {
        "r2-video:jurisdiction": "us",
        "r2-video:awsRegion": "us-east-2",
        "r2-video:locationHint": "enam",
    }
    us_plan = json.loads(render_json(synthesize("eu-prod", values, secret_keys=config.secret_keys)))
    eu_boxes = _boxes(_picture("eu-prod"))
    us_boxes = _boxes(statement_from_plan(us_plan, values).diagram)
    assert "R2 jurisdiction eu, location hint weur" in eu_boxes
    assert "R2 jurisdiction us, location hint enam" in us_boxes
    assert "edge: Regional Services region us" in us_boxes
    assert "AWS partition aws, region us-east-2" in us_boxes
    assert not any(" eu" in box or "eu-" in box for box in us_boxes), us_boxes
    assert parse([statement_from_plan(us_plan, values).diagram])[0]["ok"]


def _node_of(diagram: str, text: str) -> str:
    (node,) = re.findall(rf'(n\d+)\["{re.escape(text)}', diagram)
    return node


def test_a_resource_outside_the_jurisdiction_is_drawn_red():
    plan = copy.deepcopy(_plan("eu-prod"))
    for resource in plan["resources"]:
        if resource["type"] == "cloudflare:index/r2Bucket:R2Bucket":
            resource["inputs"]["jurisdiction"] = "default"  # a bucket that left the EU
    diagram = _picture("eu-prod", plan)
    bucket = _node_of(diagram, "delivery-bucket (R2Bucket)")
    (outside,) = re.findall(r"^  class (\S+) outside$", diagram, re.MULTILINE)
    assert bucket in outside.split(",")
    assert "R2 jurisdiction default, location hint weur (not pinned)" in _boxes(diagram)
    assert (
        "class" not in _picture("eu-prod").split("classDef flagged", 1)[1]
    )  # none in the original


def test_flagged_resources_are_drawn_in_the_flag_colour():
    plan = _plan("eu-prod")
    (bucket,) = [r["urn"] for r in plan["resources"] if r["name"] == "mezzanine-bucket"]
    diagram = _picture("eu-prod", flagged=[bucket])
    node = _node_of(diagram, "mezzanine-bucket (Bucket)")
    assert re.search(rf"^  class {node} flagged$", diagram, re.MULTILINE)


@pytest.mark.parametrize(
    "hostile",
    [
        'x"]\n  click n0 "javascript:alert(1)"\n  y["',
        "a --> b; subgraph evil",
        "<img src=x onerror=alert(1)>#quot;",
    ],
)
def test_plan_values_cannot_add_to_the_picture(hostile):
    # The hostname everywhere it occurs, so the regional hostname still matches its domain.
    text = json.dumps(_plan("eu-prod")).replace("live.example.eu", json.dumps(hostile)[1:-1])
    diagram = _picture("eu-prod", json.loads(text))
    original = _picture("eu-prod")
    assert len(diagram.splitlines()) == len(original.splitlines())
    assert not re.search(r"^\s*(click|subgraph evil)", diagram, re.MULTILINE)
    assert "<img" not in diagram and "#quot;" not in diagram
    assert all(line.count('"') in (0, 2, 4) for line in diagram.splitlines())  # labels closed
    assert parse([diagram])[0]["ok"]


def test_the_statement_shows_the_picture_and_the_json_leaves_it_out():
    statement = statement_from_plan(_plan("eu-prod"), load_stack_config("eu-prod").values)
    markdown = render_markdown(statement)
    assert "## Where the data lives" in markdown
    assert mermaid_blocks(markdown) == [statement.diagram]
    from infra.review.residency_statement import render_json as statement_json

    assert "diagram" not in json.loads(statement_json(statement))
