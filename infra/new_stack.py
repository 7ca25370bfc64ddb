"""``python -m infra.cli new-stack NAME --jurisdiction J --aws-region R ...``: a new region.

Writes ``Pulumi.NAME.yaml`` with every required key, the Cloudflare plan the features need and a
comment on every value the user should look at; then plans it offline (the same settings check
and policy rules as ``plan``), writes ``plans/NAME.json`` and prints the residency statement.
Nothing is left behind when the configuration is refused.

Exit status: 0 written; 1 the policy rules or the residency statement fail (nothing written);
2 bad input (nothing written).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from coordinator.endpoints import ALLOWED_LOCATION_HINTS, Jurisdiction, is_account_id, region_key
from infra.residency import allowed_region, region_rule
from infra.validation import ArgsError, Problems, in_zone, is_hostname, is_origin

__all__ = ["NewStack", "main", "render_stack_file"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
_STACK_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,30}")
# The order a hint is picked in when the user names none: the first one inside the jurisdiction.
_HINT_PREFERENCE = ("weur", "enam", "wnam", "eeur", "apac", "oc")


@dataclass(frozen=True, kw_only=True, slots=True)
class NewStack:
    """What the user asked for; checked on construction, every problem reported at once."""

    name: str
    """Stack name: lowercase letters, digits and '-'."""
    jurisdiction: str
    """R2 jurisdiction; decides the allowed AWS regions and Regional Services key."""
    aws_region: str
    """Region of the mezzanine and the coordinator."""
    aws_account_id: str
    """The only AWS account `pulumi up` may touch."""
    cloudflare_account_id: str
    """Account of the R2 bucket and the token."""
    zone_id: str
    """The delivery zone's id."""
    zone_name: str
    """The delivery zone's name; hostnames lie inside it."""
    hostnames: tuple[str, ...]
    """Delivery hostnames (custom domains of the bucket)."""
    cors_origins: tuple[str, ...] = ()
    """Players' origins; left for the user to fill in when empty."""
    environment: str = "prod"
    """dev or prod."""
    signed_delivery: bool = False
    """Viewers need a playback URL from the coordinator (Pro plan or higher)."""

    def __post_init__(self) -> None:
        p = Problems("new-stack arguments")
        p.check(
            _STACK_NAME.fullmatch(self.name) is not None,
            "NAME",
            f"{self.name!r}: lowercase letters, digits and '-', at most 31",
        )
        try:
            j: Jurisdiction | None = Jurisdiction(self.jurisdiction)
        except ValueError:
            choices = ", ".join(x.value for x in Jurisdiction)
            p.add("--jurisdiction", f"{self.jurisdiction!r}: one of {choices}")
            j = None
        if j is not None:
            p.check(
                allowed_region(j, self.aws_region),
                "--aws-region",
                f"{self.aws_region!r} is not allowed for jurisdiction {j.value!r};"
                f" use {region_rule(j)}",
            )
        p.check(
            self.aws_account_id.isdigit() and len(self.aws_account_id) == 12,
            "--aws-account-id",
            f"{self.aws_account_id!r}: 12 digits",
        )
        for flag, value in (
            ("--cloudflare-account-id", self.cloudflare_account_id),
            ("--zone-id", self.zone_id),
        ):
            p.check(is_account_id(value), flag, f"{value!r}: 32 lowercase hex characters")
        p.check(is_hostname(self.zone_name), "--zone-name", f"{self.zone_name!r}: a DNS name")
        p.check(
            self.environment in ("dev", "prod"),
            "--environment",
            f"{self.environment!r}: dev or prod",
        )
        p.check(
            self.environment != "prod" or bool(self.hostnames),
            "--hostname",
            "a prod stack serves through at least one custom domain",
        )
        for host in self.hostnames:
            p.check(
                is_hostname(host) and in_zone(host, self.zone_name),
                "--hostname",
                f"{host!r}: a name inside the zone {self.zone_name!r}",
            )
        for origin in self.cors_origins:
            p.check(
                is_origin(origin, allow_http=self.environment != "prod"),
                "--cors-origin",
                f"{origin!r}: scheme://host[:port], https in prod",
            )
        p.raise_if_any()

    @property
    def jurisdiction_value(self) -> Jurisdiction:
        return Jurisdiction(self.jurisdiction)

    @property
    def regional(self) -> bool:
        """Regional hostnames: on wherever the jurisdiction has a Regional Services key."""
        return region_key(self.jurisdiction_value) is not None

    @property
    def cloudflare_plan(self) -> str:
        """The least plan the stack's features need: regional hostnames need Enterprise (the
        Data Localization Suite is an Enterprise add-on), signed delivery Pro."""
        if self.regional:
            return "enterprise"
        return "pro" if self.signed_delivery else "free"

    @property
    def location_hint(self) -> str | None:
        if self.jurisdiction_value is Jurisdiction.DEFAULT:
            return None
        allowed = ALLOWED_LOCATION_HINTS[self.jurisdiction_value]
        return next(h for h in _HINT_PREFERENCE if h in allowed)


def _quoted(value: str) -> str:
    return json.dumps(value)


def render_stack_file(s: NewStack) -> str:
    """The stack file's text: every required key, a comment where the user has a choice."""
    j = s.jurisdiction_value
    lines = [
        f"# Stack {s.name}: written by `python -m infra.cli new-stack`; edit freely, then",
        f"# `python -m infra.cli plan --stack {s.name}` checks it offline.",
        "config:",
        f"  r2-video:environment: {s.environment}",
        f"  r2-video:jurisdiction: {j.value}  # a bucket's jurisdiction cannot change later",
    ]
    if s.location_hint:
        lines.append(
            f"  r2-video:locationHint: {s.location_hint}  # best effort, inside the"
            f" jurisdiction: {', '.join(sorted(ALLOWED_LOCATION_HINTS[j]))}"
        )
    lines += [
        # Quoted: an id of digits only is valid hex, and YAML would read it as a number.
        f"  r2-video:cloudflareAccountId: {_quoted(s.cloudflare_account_id)}",
        f"  r2-video:cloudflareZoneId: {_quoted(s.zone_id)}",
        f"  r2-video:zoneName: {s.zone_name}",
        f"  r2-video:deliveryBucketName: {s.name}-delivery  # R2 bucket; renaming replaces it",
    ]
    if s.hostnames:
        lines += ["  r2-video:deliveryHostnames:", *(f"    - {host}" for host in s.hostnames)]
    else:
        lines.append("  # FILL IN: custom domains: r2-video:deliveryHostnames: [media.example]")
    if s.cors_origins:
        lines += ["  r2-video:corsOrigins:", *(f"    - {o}" for o in s.cors_origins)]
    else:
        lines.append(
            "  # FILL IN: the players' origins, e.g. r2-video:corsOrigins: [https://player.example]"
        )
    lines.append('  r2-video:minTls: "1.2"')
    plan_why = {
        "enterprise": "regional hostnames need the Data Localization Suite (Enterprise add-on)",
        "pro": "signed delivery needs the WAF's HMAC check (Pro or higher)",
        "free": "no feature here needs more; set your zone's real plan",
    }[s.cloudflare_plan]
    lines.append(f"  r2-video:cloudflarePlan: {s.cloudflare_plan}  # {plan_why}")
    if s.regional:
        lines.append(
            f'  r2-video:regionalHostnames: "true"  # region key {region_key(j)}: TLS and'
            " processing of the hostnames inside the jurisdiction"
        )
    if s.signed_delivery:
        lines.append('  r2-video:signedDelivery: "true"')
    lines += [
        f"  r2-video:awsRegion: {s.aws_region}",
        f"  r2-video:awsAccountId: {_quoted(s.aws_account_id)}  # pulumi up refuses any other"
        " AWS account",
        f"  r2-video:mezzanineBucketName: {s.name}-mezzanine-{s.aws_account_id}"
        "  # S3 names are global",
        "  # FILL IN for `python -m infra.cli cost`: r2-video:workload (see docs/cost.md).",
    ]
    return "\n".join(lines) + "\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m infra.cli new-stack",
        description="Write a validated Pulumi.<NAME>.yaml and plans/<NAME>.json, then print the"
        " stack's residency statement. Exit status: 0 written, 1 policy or residency failure,"
        " 2 bad input; nothing is written unless it is 0.",
    )
    parser.add_argument("name", help="stack name, e.g. eu-acme")
    parser.add_argument("--jurisdiction", required=True, help="default, eu, fedramp or us")
    parser.add_argument("--aws-region", required=True)
    parser.add_argument("--aws-account-id", required=True)
    parser.add_argument("--cloudflare-account-id", required=True)
    parser.add_argument("--zone-id", required=True, help="the delivery zone's id (32 hex)")
    parser.add_argument("--zone-name", required=True)
    parser.add_argument(
        "--hostname", action="append", default=[], help="delivery hostname (repeat for more)"
    )
    parser.add_argument(
        "--cors-origin", action="append", default=[], help="player origin (repeat for more)"
    )
    parser.add_argument("--environment", default="prod", help="dev or prod (default prod)")
    parser.add_argument("--signed-delivery", action="store_true")
    parser.add_argument("--project-dir", default=str(PROJECT_ROOT), help="folder of Pulumi.yaml")
    return parser


def main(argv: list[str]) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    try:
        request = NewStack(
            name=args.name,
            jurisdiction=args.jurisdiction,
            aws_region=args.aws_region,
            aws_account_id=args.aws_account_id,
            cloudflare_account_id=args.cloudflare_account_id,
            zone_id=args.zone_id,
            zone_name=args.zone_name,
            hostnames=tuple(args.hostname),
            cors_origins=tuple(args.cors_origin),
            environment=args.environment,
            signed_delivery=args.signed_delivery,
        )
    except ArgsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    project = Path(args.project_dir)
    if not (project / "Pulumi.yaml").is_file():
        print(f"error: {project} has no Pulumi.yaml (--project-dir)", file=sys.stderr)
        return 2
    stack_file = project / f"Pulumi.{request.name}.yaml"
    plan_file = project / "plans" / f"{request.name}.json"
    if stack_file.exists() or plan_file.exists():
        print(f"error: {stack_file.name} or plans/{plan_file.name} exists already", file=sys.stderr)
        return 2
    stack_file.write_text(render_stack_file(request), encoding="utf-8")
    try:
        status, plan_json, statement = _check(request.name, project)
    except BaseException:
        stack_file.unlink(missing_ok=True)
        raise
    if status != 0:
        stack_file.unlink(missing_ok=True)
        return status
    plan_file.parent.mkdir(exist_ok=True)
    plan_file.write_text(plan_json, encoding="utf-8")
    print(f"wrote {stack_file.name} and plans/{plan_file.name}\n", file=sys.stderr)
    sys.stdout.write(statement)
    return 0


def _check(stack: str, project: Path) -> tuple[int, str, str]:
    """(status, plan JSON, residency Markdown) of the freshly written stack file."""
    from infra.review.plan import StackConfigError, load_stack_config, plan_stack, render_json
    from infra.review.policy.rules import evaluate, mandatory_failures, render_results
    from infra.review.policy.view import view_from_plan
    from infra.review.residency_statement import render_markdown, statement_from_plan
    from infra.settings import SettingsError

    try:
        plan = plan_stack(stack, project)
        config = load_stack_config(stack, project).values
    except (StackConfigError, SettingsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2, "", ""
    text = render_json(plan)
    document = json.loads(text)
    view = view_from_plan(document, config)
    results = evaluate(view)
    if mandatory_failures(results):
        print(render_results(results, view.context), end="", file=sys.stderr)
        return 1, "", ""
    statement = statement_from_plan(document, config)
    markdown = render_markdown(statement)
    if statement.outside:
        print(markdown, end="", file=sys.stderr)
        return 1, "", ""
    return 0, text, markdown
