"""The README's "Use it in your own program" Python block runs as written (under mocks), with
``r2_video`` being this checkout's ``infra.components`` (tests/infra/test_package.py shows the
built wheel gives the same package under that name)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

import infra.components
from tests.infra.test_region import created, run

README = Path(__file__).resolve().parents[2] / "README.md"


def _python_block() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Use it in your own program", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert len(blocks) == 1, "the section has one Python block"
    return blocks[0]


def test_the_readme_python_block_plans_a_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "r2_video", infra.components)
    code = compile(_python_block(), "README.md", "exec")
    recorder = run(lambda: exec(code, {"__name__": "__main__"}))  # noqa: S102 - the README's code
    names = created(recorder)
    for part in ("eu", "eu-delivery", "eu-delivery-bucket", "eu-mezzanine", "eu-coordinator"):
        assert part in names, names
    assert "eu-aws" not in names  # the README's program brings its own AWS provider
