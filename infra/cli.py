"""Command-line tools that need no cloud credentials: ``python -m infra.cli plan|cost ...``.

Kept apart from ``infra/__main__.py``, which Pulumi runs as the program itself.
Exit status: 0 success, 2 bad input (unreadable files, invalid stack configuration).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["main"]


def _plan(args: argparse.Namespace) -> int:
    from infra.plan import StackConfigError, plan_stack, render_json, render_table
    from infra.settings import SettingsError

    try:
        plan = plan_stack(args.stack, Path(args.project_dir))
    except (StackConfigError, SettingsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    text = render_json(plan) if args.format == "json" else render_table(plan)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m infra.cli", description="Offline tools for the r2-video stacks."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    plan = commands.add_parser(
        "plan", help="what `pulumi up` would create for a stack, computed offline from its config"
    )
    plan.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    plan.add_argument("--format", choices=("table", "json"), default="table")
    plan.add_argument("--output", help="write to this file instead of stdout")
    plan.add_argument(
        "--project-dir",
        default=str(Path(__file__).resolve().parent.parent),
        help="folder of Pulumi.yaml",
    )
    plan.set_defaults(handler=_plan)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["cost"]:
        # The cost model owns its flags; hand it the rest of the command line untouched.
        from infra.cost import main as cost_main

        return cost_main(argv[1:])
    args = _parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
