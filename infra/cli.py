"""Command-line tools: ``python -m infra.cli plan|fleet|residency|cost|new-stack|diff|review|
judge-preview|stacks|preflight|empty-bucket ...`` (``--help`` lists them, one line each).

All but ``preflight`` and ``empty-bucket`` need no cloud credentials; ``preflight`` reads (never
writes) the real accounts with the credentials `pulumi up` uses; ``empty-bucket`` deletes a dev
stack's objects.

Kept apart from ``infra/__main__.py``, which Pulumi runs as the program itself.
Exit status: 0 success, 2 bad input (unreadable files, invalid stack configuration);
``plan`` exits 1 when a mandatory policy rule fails (after printing the plan), ``diff`` exits 1
when it raises a data-loss or border flag, ``preflight`` exits 1 when a check fails,
``residency`` exits 1 when a data-bearing resource is outside the stack's jurisdiction.
``plan --all``, ``residency --all``, ``cost --all`` and ``fleet`` run every stack in this one
process (``infra/review/fleet.py``) and exit with the worst stack's status, 3 when one crashed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["main"]


def _plan_one(
    stack: str, project_dir: Path, *, fmt: str, output: str | None, no_policy: bool
) -> int:
    """``plan --stack STACK``: the plan to ``output`` (or stdout), then the policy report."""
    from infra.review.plan import StackConfigError, plan_stack, render_json, render_table
    from infra.settings import SettingsError

    try:
        plan = plan_stack(stack, project_dir)
    except (StackConfigError, SettingsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    text = render_json(plan) if fmt == "json" else render_table(plan)
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    if no_policy:
        return 0
    # The policy rules run over the same plan; their report goes where it cannot spoil JSON.
    from infra.review.plan import load_stack_config
    from infra.review.policy.rules import evaluate, mandatory_failures, render_results
    from infra.review.policy.view import view_from_plan

    config = load_stack_config(stack, project_dir).values
    view = view_from_plan(json.loads(render_json(plan)), config)
    results = evaluate(view)
    report = render_results(results, view.context)
    to_stderr = fmt == "json" and not output
    print(report, end="", file=sys.stderr if to_stderr else sys.stdout)
    return 1 if mandatory_failures(results) else 0


def _for_each_stack(
    args: argparse.Namespace, run_one: Callable[[str, str | None], int], *, verb: str, ext: str
) -> int:
    """``VERB --all``: ``run_one(stack, output)`` for every stack in this one process.

    With ``--output-dir DIR`` each stack's result goes to ``DIR/<stack>.<ext>``, what it prints
    to ``DIR/<stack>.log`` and its exit status to ``DIR/<stack>.exit``; without, everything goes
    to this process's streams one stack after another. The exit status is the worst of the
    stacks' (infra/review/fleet.py, SEVERITY); the stacks that did not pass are listed on stderr.
    """
    from infra.review.fleet import EXIT_INPUT, discover, progress_stream, run_fleet, summary, worst

    fleet = discover(Path(args.project_dir))
    if fleet.problems:
        for problem in fleet.problems:
            print(f"error: {problem}", file=sys.stderr)
        return EXIT_INPUT
    out_dir = Path(args.output_dir) if args.output_dir else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)

    def one(stack: str) -> int:
        return run_one(stack, str(out_dir / f"{stack}.{ext}") if out_dir else None)

    results = run_fleet(fleet, one, logs=out_dir, progress=progress_stream(), verb=verb)
    sys.stderr.write(summary(results, verb=verb))
    return worst([r.exit for r in results])


def _plan(args: argparse.Namespace) -> int:
    project_dir = Path(args.project_dir)

    def one(stack: str, output: str | None) -> int:
        return _plan_one(
            stack, project_dir, fmt=args.format, output=output, no_policy=args.no_policy
        )

    if args.all:
        if args.output:
            print("error: --all writes one file a stack: use --output-dir", file=sys.stderr)
            return 2
        return _for_each_stack(
            args, one, verb="plan", ext="json" if args.format == "json" else "txt"
        )
    if args.output_dir:
        print("error: --output-dir goes with --all; use --output", file=sys.stderr)
        return 2
    return one(args.stack, args.output)


def _diff(args: argparse.Namespace) -> int:
    from infra.review.diff import main as diff_main

    return diff_main(args.base, args.head, output=args.output)


def _stack_settings(stack: str, project_dir: Path) -> Any:
    """The stack's validated settings, read from its config files as `pulumi up` would."""
    import pulumi

    from infra.settings import PROJECT, load_settings
    from infra.stack_config import load_stack_config

    config = load_stack_config(stack, project_dir)
    pulumi.runtime.set_all_config(dict(config.values), config.secret_keys)
    return load_settings(pulumi.Config(PROJECT), stack=stack)


def _preflight(args: argparse.Namespace) -> int:
    import os

    from infra.preflight.run import CloudflareApi, exit_code, render, run_preflight
    from infra.settings import SettingsError
    from infra.stack_config import StackConfigError

    try:
        settings = _stack_settings(args.stack, Path(args.project_dir))
    except (StackConfigError, SettingsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    token = os.environ.get("CLOUDFLARE_API_TOKEN", "")
    if not token:
        print(
            "error: CLOUDFLARE_API_TOKEN is not set: preflight uses the token `pulumi up` uses",
            file=sys.stderr,
        )
        return 2
    import boto3

    checks = run_preflight(
        settings,
        cloudflare=CloudflareApi(token, base_url=args.cloudflare_api),
        aws_session=boto3.Session(),
    )
    print(f"preflight of stack {args.stack!r} (read-only)")
    sys.stdout.write(render(checks))
    return exit_code(checks)


def _empty_bucket(args: argparse.Namespace) -> int:
    import os

    from coordinator.s3client import make_client
    from coordinator.sigv4 import Credentials
    from infra.settings import SettingsError
    from infra.stack_config import StackConfigError
    from infra.teardown import empty_bucket, list_contents

    try:
        settings = _stack_settings(args.stack, Path(args.project_dir))
    except (StackConfigError, SettingsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if settings.is_production:
        print(
            f"error: stack {args.stack!r} is prod: its bucket is protected and retained, and"
            " empty-bucket only tears down dev stacks",
            file=sys.stderr,
        )
        return 2
    key_id = os.environ.get("R2_ACCESS_KEY_ID", "")
    secret = os.environ.get("R2_SECRET_ACCESS_KEY", "")
    if not key_id or not secret:
        print(
            "error: set R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY to S3 credentials of an R2 API"
            " token with Object Read & Write on the bucket",
            file=sys.stderr,
        )
        return 2
    bucket = settings.delivery.bucket_name
    endpoint = args.endpoint_url or settings.r2_endpoint
    client = make_client(endpoint=endpoint, region="auto", credentials=Credentials(key_id, secret))
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        if not args.yes:
            found = list_contents(client, bucket)
            print(
                f"{bucket} at {endpoint}: {len(found.keys)} objects, {len(found.uploads)}"
                " incomplete multipart uploads; run again with --yes to delete them all"
            )
            return 0
        gone = empty_bucket(client, bucket)
    except (BotoCoreError, ClientError) as error:
        print(f"error: {bucket} at {endpoint}: {error}", file=sys.stderr)
        return 1
    print(
        f"{bucket}: deleted {len(gone.keys)} objects, aborted {len(gone.uploads)} multipart"
        f" uploads; `pulumi destroy --stack {args.stack}` can delete the bucket now"
    )
    return 0


def _stacks(args: argparse.Namespace) -> int:
    from infra.stack_config import StackConfigError, stack_names

    try:
        names = stack_names(Path(args.project_dir))
    except StackConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(names) if args.format == "json" else "\n".join(names))
    return 0


def _review(args: argparse.Namespace) -> int:
    from infra.review.judge import main as review_main

    return review_main(
        Path(args.artifact),
        base_dir=Path(args.base_dir),
        changed_files=Path(args.changed_files) if args.changed_files else None,
        head_committed=Path(args.head_committed) if args.head_committed else None,
        output=Path(args.output) if args.output else None,
        verdict=Path(args.verdict) if args.verdict else None,
    )


def _judge_preview(args: argparse.Namespace) -> int:
    from infra.review.preview_judge import main as judge_main

    return judge_main(args.preview, output=args.output, approved=args.approved, plan=args.plan)


def _residency_one(
    stack: str, project_dir: Path, *, fmt: str, output: str | None, plan_file: str | None
) -> int:
    from infra.review.plan import StackConfigError, load_stack_config, plan_stack
    from infra.review.plan import render_json as plan_json
    from infra.review.residency_statement import render_json, render_markdown, statement_from_plan
    from infra.settings import SettingsError

    try:
        config = load_stack_config(stack, project_dir).values
        if plan_file:
            document = json.loads(Path(plan_file).read_text(encoding="utf-8"))
        else:
            document = json.loads(plan_json(plan_stack(stack, project_dir)))
    except (StackConfigError, SettingsError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not isinstance(document, dict) or document.get("stack") != stack:
        print(f"error: {plan_file} is not a plan of stack {stack!r}", file=sys.stderr)
        return 2
    statement = statement_from_plan(document, config)
    text = render_json(statement) if fmt == "json" else render_markdown(statement)
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 1 if statement.outside else 0


def _residency(args: argparse.Namespace) -> int:
    project_dir = Path(args.project_dir)

    def one(stack: str, output: str | None) -> int:
        return _residency_one(
            stack, project_dir, fmt=args.format, output=output, plan_file=args.plan
        )

    if args.all:
        if args.output or args.plan:
            print(
                "error: --all plans every stack: use --output-dir, not --output or --plan",
                file=sys.stderr,
            )
            return 2
        ext = "json" if args.format == "json" else "md"
        return _for_each_stack(args, one, verb="residency", ext=ext)
    if args.output_dir:
        print("error: --output-dir goes with --all; use --output", file=sys.stderr)
        return 2
    return one(args.stack, args.output)


class _OneLineHelp(argparse.HelpFormatter):
    """Each command's help on one line at 80 columns, after the longest command name."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=22)

    def add_argument(self, action: argparse.Action) -> None:
        super().add_argument(action)
        if action.choices and action.nargs == argparse.PARSER:
            # argparse measures subcommands two columns less indented than it prints them.
            self._action_max_length += 2


def _fleet(args: argparse.Namespace) -> int:
    """``fleet``: every stack planned in this process, one row each (infra/review/fleet_view.py)."""
    from infra.review.fleet import discover, progress_stream, run_fleet, summary, worst
    from infra.review.fleet_view import (
        FleetRow,
        render_json,
        render_markdown,
        row_from_plan,
        row_unplanned,
    )
    from infra.review.plan import StackConfigError, load_stack_config, plan_stack
    from infra.review.plan import render_json as plan_json
    from infra.settings import SettingsError

    project_dir = Path(args.project_dir)
    fleet = discover(project_dir)
    if fleet.problems:
        for problem in fleet.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    rows: dict[str, FleetRow] = {}

    def one(stack: str) -> int:
        config: dict[str, str] = {}
        try:
            config = load_stack_config(stack, project_dir).values
            if args.plans:
                path = Path(args.plans) / f"{stack}.json"
                document = json.loads(path.read_text(encoding="utf-8"))
            else:
                document = json.loads(plan_json(plan_stack(stack, project_dir)))
        except (StackConfigError, SettingsError, OSError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            rows[stack] = row_unplanned(stack, config, str(error).splitlines()[0])
            return 2
        row = rows[stack] = row_from_plan(document, config)
        return 1 if row.residency.startswith("OUTSIDE") or row.policy.startswith("FAIL") else 0

    results = run_fleet(fleet, one, progress=progress_stream(), verb="fleet")
    table = [rows.get(r.stack) or row_unplanned(r.stack, {}, r.reason) for r in results]
    if args.format == "json":
        sys.stdout.write(render_json(table))
    else:
        sys.stdout.write(
            render_markdown(table, title="Fleet")
            + "\nGenerated by `python -m infra.cli fleet` from the offline plan of every"
            " `Pulumi.<stack>.yaml`; do not edit by hand. Plan digest: the first 12 hex digits"
            " of the SHA-256 of `plan --format json` (`sha256sum plans/<stack>.json`). Cost:"
            " `python -m infra.cli cost --stack <stack>`.\n"
        )
    sys.stderr.write(summary(results, verb="fleet"))
    return worst([r.exit for r in results])


def _stack_or_all(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--stack", help="stack name: reads Pulumi.<stack>.yaml")
    which.add_argument(
        "--all",
        action="store_true",
        help="every stack (one per Pulumi.<stack>.yaml), in this one process; exit status:"
        " the worst of the stacks' (3 a stack crashed > 2 bad input > 1 a rule fails > 0)",
    )


def _output_dir(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--output-dir",
        help=f"with --all: write {what}, <stack>.log (what it printed) and <stack>.exit per stack",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m infra.cli",
        description="Offline tools for the r2-video stacks.",
        epilog="`python -m infra.cli COMMAND --help` for a command's flags and exit status.",
        formatter_class=_OneLineHelp,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # Dispatched by main() before parsing (they own their flags); listed here for --help.
    commands.add_parser(
        "new-stack", help="write and check a new stack (a sovereign region)", add_help=False
    )
    commands.add_parser(
        "cost", help="R2 + Cloudflare CDN against S3 + CloudFront, a month", add_help=False
    )

    plan = commands.add_parser(
        "plan",
        help="what `pulumi up` would create, planned offline",
        description="What `pulumi up` would create for a stack, computed offline from its"
        " config. Exit status: 0 planned, 1 a mandatory policy rule fails, 2 bad input"
        " (with --all: the worst of the stacks', 3 when one crashed).",
    )
    _stack_or_all(plan)
    plan.add_argument("--format", choices=("table", "json"), default="table")
    plan.add_argument("--output", help="write to this file instead of stdout")
    _output_dir(plan, "<stack>.json (or .txt)")
    plan.add_argument(
        "--project-dir",
        default=str(Path(__file__).resolve().parent.parent),
        help="folder of Pulumi.yaml",
    )
    plan.add_argument(
        "--no-policy",
        action="store_true",
        help="skip the policy rules (infra/review/policy/rules.py)",
    )
    plan.set_defaults(handler=_plan)

    diff = commands.add_parser(
        "diff",
        help="Markdown review of two `plan --format json` outputs",
        description="Exit status: 0 clean, 1 a data-loss or border flag, 2 bad input.",
    )
    diff.add_argument("base", help="plan JSON of the base branch")
    diff.add_argument("head", help="plan JSON of the change")
    diff.add_argument("--output", help="write the Markdown to this file instead of stdout")
    diff.set_defaults(handler=_diff)

    from infra.preflight.cloudflare_api import DEFAULT_API

    preflight = commands.add_parser(
        "preflight",
        help="read-only checks against the real accounts",
        description="Uses CLOUDFLARE_API_TOKEN and the AWS default credential chain, like"
        " `pulumi up`. Exit status: 0 every check passed, 1 a check failed, 2 bad input.",
    )
    preflight.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    preflight.add_argument(
        "--project-dir",
        default=str(Path(__file__).resolve().parent.parent),
        help="folder of Pulumi.yaml",
    )
    preflight.add_argument("--cloudflare-api", default=DEFAULT_API, help="Cloudflare API base URL")
    preflight.set_defaults(handler=_preflight)

    empty = commands.add_parser(
        "empty-bucket",
        help="empty a dev stack's R2 bucket before `pulumi destroy`",
        description="R2 deletes only empty buckets. Lists only, unless --yes. Credentials:"
        " R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY. Refuses prod stacks. Exit status: 0 done,"
        " 1 the S3 API failed, 2 bad input.",
    )
    empty.add_argument("--stack", required=True, help="a dev stack: reads Pulumi.<stack>.yaml")
    empty.add_argument(
        "--project-dir",
        default=str(Path(__file__).resolve().parent.parent),
        help="folder of Pulumi.yaml",
    )
    empty.add_argument("--endpoint-url", help="S3 endpoint (default: the stack's R2 endpoint)")
    empty.add_argument("--yes", action="store_true", help="delete (without it: only count)")
    empty.set_defaults(handler=_empty_bucket)
    project_dir = str(Path(__file__).resolve().parent.parent)
    stacks = commands.add_parser(
        "stacks",
        help="the project's stacks, one per `Pulumi.<stack>.yaml`",
        description="The project's stacks, one per Pulumi.<stack>.yaml (for CI matrices).",
    )
    stacks.add_argument("--format", choices=("json", "lines"), default="json")
    stacks.add_argument("--project-dir", default=project_dir, help="folder of Pulumi.yaml")
    stacks.set_defaults(handler=_stacks)

    review = commands.add_parser(
        "review",
        help="judge a PR's plan artifact (the trusted side of CI)",
        description="Exit status: 0 pass, 1 needs an approval, 2 fails (bad artifact, failed"
        " plan, mandatory policy rule, stale snapshot).",
    )
    review.add_argument("artifact", help="folder the untrusted plan job uploaded")
    review.add_argument(
        "--base-dir", default=project_dir, help="the trusted checkout (stacks, plans, rules)"
    )
    review.add_argument("--changed-files", help="file listing the PR's changed paths, one a line")
    review.add_argument(
        "--head-committed", help="folder with the PR's committed plans/<stack>.json (from the API)"
    )
    review.add_argument("--output", help="write the Markdown comment here")
    review.add_argument("--verdict", help="write the verdict as JSON here")
    review.set_defaults(handler=_review)

    judge = commands.add_parser(
        "judge-preview",
        help="judge `pulumi preview --json` before `pulumi up`",
        description="Exit status: 0 `pulumi up` may run, 1 a data-loss or border flag and no"
        " approval, 2 bad input.",
    )
    judge.add_argument("preview", help="the output of `pulumi preview --json`")
    judge.add_argument("--output", help="write the Markdown to this file instead of stdout")
    judge.add_argument(
        "--approved",
        action="store_true",
        help="the run was approved in the risk-approval environment: report, do not refuse",
    )
    judge.add_argument(
        "--plan",
        help="the update plan the same preview saved (--save-plan): refuse it (exit 2) unless it"
        " records every change the preview shows, so `pulumi up --plan` applies what was judged",
    )
    judge.set_defaults(handler=_judge_preview)

    residency = commands.add_parser(
        "residency",
        help="where a stack's data is pinned, and what is not",
        description="Exit status: 0 inside the jurisdiction, 1 a data-bearing resource outside"
        " it, 2 bad input.",
    )
    _stack_or_all(residency)
    residency.add_argument("--format", choices=("markdown", "json"), default="markdown")
    residency.add_argument("--output", help="write to this file instead of stdout")
    _output_dir(residency, "<stack>.md (or .json)")
    residency.add_argument(
        "--plan", help="read this `plan --format json` output instead of planning the stack"
    )
    residency.add_argument(
        "--project-dir",
        default=str(Path(__file__).resolve().parent.parent),
        help="folder of Pulumi.yaml",
    )
    residency.set_defaults(handler=_residency)

    fleet = commands.add_parser(
        "fleet",
        help="one row a stack: where its data lives, verdicts, cost",
        description="Every stack planned in one process, one row each: jurisdiction, location"
        " hint, AWS partition and region, hostnames (regional or not), residency and policy"
        " verdicts, plan digest, monthly cost where priced. Exit status: the worst of the"
        " stacks' (0 fine, 1 data outside the jurisdiction or a mandatory rule fails, 2 a stack"
        " could not be planned, 3 one crashed).",
    )
    fleet.add_argument("--format", choices=("markdown", "json"), default="markdown")
    fleet.add_argument(
        "--plans", help="read <stack>.json plans from this folder (e.g. plans) instead of planning"
    )
    fleet.add_argument("--project-dir", default=project_dir, help="folder of Pulumi.yaml")
    fleet.set_defaults(handler=_fleet)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["new-stack"]:
        # Its own flags, like cost: hand it the rest of the command line.
        from infra.new_stack import main as new_stack_main

        return new_stack_main(argv[1:])
    if argv[:1] == ["cost"]:
        # The cost model owns its flags; hand it the rest of the command line untouched.
        from infra.cost.model import main as cost_main

        return cost_main(argv[1:])
    args = _parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
