"""EdgeDelivery: the zone-level glue between viewers and the delivery bucket's custom domains.

What it manages, on the delivery zone, scoped to exactly the stack's delivery hostnames:

* **cache rules** (phase ``http_request_cache_settings``): Cloudflare caches ``mp4`` and
  ``webm`` by default but not ``m3u8``, ``mpd``, ``ts`` or ``m4s``; without a rule every HLS or
  DASH request goes to R2 (a Class B operation, and latency). Media files get a long edge and
  browser TTL (segment names are immutable), manifests a short one, errors are not kept;
* **Smart Tiered Cache** (a zone setting): one upper tier fills the others, so a segment costs
  R2 about one read however many data centers serve it;
* **regional hostnames** (Data Localization Suite): TLS termination and processing of each
  delivery hostname stay in the jurisdiction's region;
* **signed delivery** (phase ``http_request_firewall_custom``): a WAF custom rule blocks any
  request without a valid ``is_timed_hmac_valid_v0`` token; ``coordinator/playback.py`` mints
  the URLs with the key this component generates.

A zone has one entry-point ruleset per phase, and these rulesets are it: the stack owns the
zone's cache rules and WAF custom rules (see the README, "How delivery works").

References: https://developers.cloudflare.com/cache/how-to/cache-rules/settings/ ,
https://developers.cloudflare.com/cache/concepts/default-cache-behavior/ ,
https://developers.cloudflare.com/cache/how-to/edge-browser-cache-ttl/ ,
https://developers.cloudflare.com/cache/how-to/tiered-cache/ ,
https://developers.cloudflare.com/data-localization/regional-services/regional-hostnames/ ,
https://developers.cloudflare.com/waf/custom-rules/use-cases/configure-token-authentication/ ,
https://developers.cloudflare.com/ruleset-engine/about/phases/ (one entry point per phase)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_random as random

# Which extensions are media or manifests, and their default TTLs, live in the coordinator: the
# worker client sends the matching Cache-Control with every upload (one source for both).
from coordinator.delivery_rules import (
    DEFAULT_MANIFEST_TTL,
    MANIFEST_EXTENSIONS,
    MEDIA_EXTENSIONS,
    ONE_YEAR,
)
from coordinator.endpoints import Jurisdiction, is_account_id, region_key
from coordinator.playback import MAC_FLAGS, MAX_RULE_TTL, MIN_KEY_BYTES, SEPARATOR

from .validation import (
    Problems,
    check_later,
    check_now,
    cloudflare_id_problem,
    is_hostname,
    is_known,
)

__all__ = [
    "CACHE_PHASE",
    "DEFAULT_MANIFEST_TTL",
    "FIREWALL_PHASE",
    "MANIFEST_EXTENSIONS",
    "MEDIA_EXTENSIONS",
    "ONE_YEAR",
    "CloudflarePlan",
    "EdgeDelivery",
    "EdgeDeliveryArgs",
    "accepted_token_expression",
    "cache_expression",
    "signed_delivery_expression",
]

# The zone phases whose entry points the stack owns (ruleset-engine/about/phases/).
CACHE_PHASE = "http_request_cache_settings"
FIREWALL_PHASE = "http_request_firewall_custom"
# Keys live at once: the signing one and those whose URLs may still be live (rotation).
MAX_KEY_GENERATIONS = 3
DEFAULT_TOKEN_TTL = 86_400
# A 404 is kept briefly (a burst of misses for one name costs R2 one read), never for as long as
# a segment: it may be a live segment that is about to appear. 5xx is never stored.
ERROR_TTL = 10
NO_CACHE, NO_STORE = 0, -1


class CloudflarePlan(StrEnum):
    """The delivery zone's plan; it decides which edge features the stack may use."""

    FREE = "free"
    PRO = "pro"
    BUSINESS = "business"
    ENTERPRISE = "enterprise"

    @property
    def min_edge_ttl(self) -> int:
        """Shortest TTL a cache rule may set ("Minimum Edge Cache TTL": 2 h, 1 h, 1 s, 1 s)."""
        return {"free": 7200, "pro": 3600}.get(self.value, 1)

    @property
    def at_least_pro(self) -> bool:
        return self is not CloudflarePlan.FREE


@dataclass(frozen=True, kw_only=True, slots=True)
class EdgeDeliveryArgs:
    """Everything an EdgeDelivery needs; validated on construction."""

    zone_id: pulumi.Input[str]
    """The delivery zone (32 hex characters)."""
    hostnames: tuple[str, ...]
    """The delivery hostnames; every rule is scoped to exactly these."""
    jurisdiction: Jurisdiction
    """The stack's jurisdiction: decides the regional hostnames' region key."""
    plan: CloudflarePlan = CloudflarePlan.FREE
    """The zone's Cloudflare plan."""
    manifest_ttl_seconds: int | None = None
    """Edge and browser TTL of manifests; None: 30 s where the plan allows, else the object's
    own Cache-Control (uncached without one). Live streams want 1-2 s."""
    segment_ttl_seconds: int = ONE_YEAR
    """Edge and browser TTL of media files, whose names never change."""
    tiered_cache: bool = True
    """Turn on (Smart) Tiered Cache for the zone."""
    regional_hostnames: bool = False
    """Keep TLS termination and processing of the hostnames in the jurisdiction's region."""
    signed_delivery: bool = False
    """Block requests without a valid playback token (``coordinator/playback.py``)."""
    token_ttl_seconds: int = DEFAULT_TOKEN_TTL
    """The longest a playback URL can live (the WAF rule's ttl)."""
    playback_key_generations: tuple[int, ...] = (1,)
    """Live playback keys, oldest first: the last signs new URLs, the others are still accepted
    until the URLs signed with them expire (README, "Rotating the playback key")."""
    adopt_cache_ruleset_id: str | None = None
    """Id of the zone's existing ``http_request_cache_settings`` entry point to take over."""
    adopt_firewall_ruleset_id: str | None = None
    """Id of the zone's existing ``http_request_firewall_custom`` entry point to take over."""

    def __post_init__(self) -> None:
        problems = Problems("EdgeDeliveryArgs")
        check_now(problems, "zone_id", self.zone_id, cloudflare_id_problem)
        for host in self.hostnames:
            problems.check(
                is_hostname(host), "hostnames", f"{host!r} is not a valid lowercase hostname"
            )
        plan = self.plan
        minimum = plan.min_edge_ttl
        if self.manifest_ttl_seconds is not None and not (
            minimum <= self.manifest_ttl_seconds <= ONE_YEAR
        ):
            problems.add(
                "manifest_ttl_seconds",
                f"must be between {minimum} and {ONE_YEAR} on the {plan.value} plan"
                + (
                    " (shorter edge TTLs need Business or Enterprise; leave it unset to use the"
                    " manifests' own Cache-Control)"
                    if minimum > 1
                    else ""
                ),
            )
        problems.check(
            minimum <= self.segment_ttl_seconds <= ONE_YEAR,
            "segment_ttl_seconds",
            f"must be between {minimum} and {ONE_YEAR} on the {plan.value} plan",
        )
        if self.regional_hostnames:
            if region_key(self.jurisdiction) is None:
                problems.add(
                    "regional_hostnames",
                    f"jurisdiction {self.jurisdiction.value!r} has no region to pin processing to",
                )
            if plan is not CloudflarePlan.ENTERPRISE:
                problems.add(
                    "plan",
                    f"{plan.value}: regional hostnames (on by default in jurisdictions eu and"
                    " fedramp) need the Data Localization Suite, an Enterprise add-on; without"
                    " it set regionalHostnames to false",
                )
        if self.signed_delivery:
            problems.check(
                plan.at_least_pro,
                "plan",
                f"{plan.value}: signed delivery (the WAF's HMAC validation) needs Pro or higher",
            )
            problems.check(
                bool(self.hostnames), "signed_delivery", "needs at least one delivery hostname"
            )
        for field, ruleset_id, used in (
            ("adopt_cache_ruleset_id", self.adopt_cache_ruleset_id, bool(self.hostnames)),
            ("adopt_firewall_ruleset_id", self.adopt_firewall_ruleset_id, self.signed_delivery),
        ):
            if ruleset_id is None:
                continue
            problems.check(
                is_account_id(ruleset_id),
                field,
                "must be the entry point's ruleset id, 32 lowercase hex characters"
                " (`python -m infra.cli preflight` prints it)",
            )
            problems.check(
                used,
                field,
                "the stack makes no ruleset in that phase (no delivery hostnames, or signed"
                " delivery off): remove the setting",
            )
            problems.check(
                is_known(self.zone_id),
                field,
                "taking a ruleset over needs a zone_id known when the program starts (its import"
                " id is a plain string): pass the zone id, not another resource's output",
            )
        generations = self.playback_key_generations
        problems.check(
            1 <= len(generations) <= MAX_KEY_GENERATIONS
            and all(isinstance(g, int) and g >= 1 for g in generations)
            and list(generations) == sorted(set(generations)),
            "playback_key_generations",
            f"must be 1 to {MAX_KEY_GENERATIONS} increasing whole numbers from 1, the signing"
            " key last, e.g. [1, 2] while rotating from key 1 to key 2",
        )
        problems.check(
            1 <= self.token_ttl_seconds <= MAX_RULE_TTL,
            "token_ttl_seconds",
            f"must be between 1 and {MAX_RULE_TTL}",
        )
        problems.raise_if_any()

    @property
    def region_key(self) -> str | None:
        """The Regional Services key the hostnames get, None when they are not pinned."""
        return region_key(self.jurisdiction) if self.regional_hostnames else None

    @property
    def processing_unpinned(self) -> bool:
        """A sovereign stack whose delivery TLS and processing may happen anywhere."""
        return (
            region_key(self.jurisdiction) is not None
            and bool(self.hostnames)
            and not self.regional_hostnames
        )


def _set(values: Sequence[str]) -> str:
    # A Rules-language set of string literals; json.dumps quotes and escapes like the language.
    return "{" + " ".join(json.dumps(v) for v in values) + "}"


def cache_expression(hostnames: Sequence[str], extensions: Sequence[str]) -> str:
    """Requests to exactly ``hostnames`` for a file with one of ``extensions``."""
    return (
        f"(http.host in {_set(hostnames)}"
        f" and http.request.uri.path.extension in {_set(extensions)})"
    )


# Where a key would stand in the reviewable rendering of the signed-delivery rules.
REDACTED_KEY = "[key redacted]"


def signed_delivery_expression(hostnames: Sequence[str], key: str, ttl: int) -> str:
    """Requests to ``hostnames`` without a valid playback token (the rule blocks them).

    ``http.request.uri`` (path and query) is the MessageMAC; the separator is ``?verify=``; the
    MAC is URL-safe base64 without padding (flag ``s``): see ``coordinator/playback.py``.
    """
    return f"(http.host in {_set(hostnames)} and not {_hmac_valid(key, ttl)})"


def accepted_token_expression(hostnames: Sequence[str], key: str, ttl: int) -> str:
    """Requests to ``hostnames`` with a valid token for ``key`` (an older key, still accepted
    while its URLs live: the rule skips the remaining custom rules for them)."""
    return f"(http.host in {_set(hostnames)} and {_hmac_valid(key, ttl)})"


def _hmac_valid(key: str, ttl: int) -> str:
    # The key is a string literal in the rule (Cloudflare's design): whoever can read the zone's
    # rules can read it (ruleset-engine/rules-language/functions/#hmac-validation).
    return (
        f"is_timed_hmac_valid_v0({json.dumps(key)}, http.request.uri, {ttl},"
        f" http.request.timestamp.sec, {len(SEPARATOR)}, {json.dumps(MAC_FLAGS)})"
    )


class EdgeDelivery(pulumi.ComponentResource):
    """Zone-level delivery settings for the stack's hostnames.

    Zone-level rulesets and settings are not children of one bucket (a zone could front several
    buckets, and a bucket's lifecycle should not drag the zone's rules along), hence a component
    of its own next to DeliveryBucket.
    """

    cache_rules: cloudflare.Ruleset | None
    signed_delivery_rules: cloudflare.Ruleset | None
    regional_hostnames: list[cloudflare.RegionalHostname]
    playback_hmac_key: pulumi.Output[str] | None
    signed_delivery_review: str | None
    playback_token_ttl: pulumi.Output[int] | None

    def __init__(
        self,
        name: str,
        args: EdgeDeliveryArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        dns_records: Mapping[str, pulumi.Resource] | None = None,
    ) -> None:
        """``dns_records`` maps a hostname to what creates its DNS record (its R2 custom
        domain): a regional hostname needs the record to exist first."""
        super().__init__("r2-video:edge:EdgeDelivery", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        hosts = args.hostnames
        records = dns_records or {}
        zone_id = check_later("EdgeDeliveryArgs", "zone_id", args.zone_id, cloudflare_id_problem)

        if args.tiered_cache:
            # Tiered Cache on, with the smart topology (one upper tier chosen by latency to the
            # origin). Zone-wide settings, available on every plan.
            cloudflare.ArgoTieredCaching(
                f"{name}-tiered-caching", zone_id=zone_id, value="on", opts=child
            )
            cloudflare.TieredCache(
                f"{name}-smart-tiered-cache", zone_id=zone_id, value="on", opts=child
            )

        self.cache_rules = None
        if hosts:
            self.cache_rules = cloudflare.Ruleset(
                f"{name}-cache-rules",
                zone_id=zone_id,
                kind="zone",
                phase=CACHE_PHASE,
                name="r2-video delivery cache",
                description="Managed by Pulumi (r2-video): HLS/DASH caching on the delivery hosts",
                rules=_cache_rules(args),
                opts=_entry_point_options(
                    self, args.zone_id, CACHE_PHASE, args.adopt_cache_ruleset_id
                ),
            )

        self.regional_hostnames = []
        key = args.region_key
        if key is not None:
            self.regional_hostnames = [
                cloudflare.RegionalHostname(
                    f"{name}-regional-{host}",
                    zone_id=zone_id,
                    hostname=host,
                    region_key=key,
                    # The R2 custom domain creates the hostname's DNS record.
                    opts=pulumi.ResourceOptions(
                        parent=self, depends_on=[records[host]] if host in records else None
                    ),
                )
                for host in hosts
            ]
        if args.processing_unpinned:
            pulumi.log.warn(
                f"delivery processing is not pinned to the {args.jurisdiction.value!r} region:"
                f" TLS termination and processing of {', '.join(hosts)} may happen in any"
                " Cloudflare data center (regionalHostnames is false); stored data stays in"
                " the jurisdiction"
            )

        self.playback_hmac_key = None
        self.playback_token_ttl = None
        self.signed_delivery_rules = None
        self.signed_delivery_review = None
        if args.signed_delivery:
            self._signed_delivery(name, args)

        self.register_outputs(
            {
                "regional_hostnames": [r.hostname for r in self.regional_hostnames],
                "playback_hmac_key": self.playback_hmac_key,
                "playback_token_ttl": self.playback_token_ttl,
            }
        )

    def _signed_delivery(self, name: str, args: EdgeDeliveryArgs) -> None:
        """Playback keys and the WAF rules that check them.

        One ``block`` rule for the signing (last) key; before it, per older key still accepted,
        a ``skip`` rule (``ruleset: current``: the remaining custom rules) for requests whose
        token that key signed (waf/custom-rules/skip/options/). Each rule calls the HMAC check
        once.
        """
        child = pulumi.ResourceOptions(parent=self)
        hosts, ttl = args.hostnames, args.token_ttl_seconds
        # Hex: the key sits in the rule as a string literal, and hex needs no escaping.
        keys = {
            generation: pulumi.Output.secret(
                random.RandomBytes(
                    _key_name(name, generation), length=MIN_KEY_BYTES, opts=child
                ).hex
            )
            for generation in args.playback_key_generations
        }
        *older, signing = args.playback_key_generations
        rules = [
            cloudflare.RulesetRuleArgs(
                ref=f"r2_video_playback_key_{generation}",
                description=f"Accept playback tokens of key {generation} while its URLs live",
                action="skip",
                action_parameters=cloudflare.RulesetRuleActionParametersArgs(ruleset="current"),
                expression=keys[generation].apply(
                    lambda k: accepted_token_expression(hosts, k, ttl)
                ),
            )
            for generation in older
        ]
        rules.append(
            cloudflare.RulesetRuleArgs(
                ref="r2_video_signed_delivery",
                description="Block delivery requests without a valid playback token",
                action="block",
                # The key makes the expression a secret: encrypted in state, masked in the plan.
                expression=keys[signing].apply(lambda k: signed_delivery_expression(hosts, k, ttl)),
            )
        )
        self.signed_delivery_rules = cloudflare.Ruleset(
            f"{name}-signed-delivery",
            zone_id=check_later("EdgeDeliveryArgs", "zone_id", args.zone_id, cloudflare_id_problem),
            kind="zone",
            phase=FIREWALL_PHASE,
            name="r2-video signed delivery",
            description="Managed by Pulumi (r2-video): playback tokens on the delivery hosts",
            rules=rules,
            opts=_entry_point_options(
                self, args.zone_id, FIREWALL_PHASE, args.adopt_firewall_ruleset_id
            ),
        )
        # What review reads (exported as `signed_delivery_rule`, infra/__main__.py): the same
        # rules built by the same functions with "[key redacted]" where each key goes. The
        # expressions are secrets (the keys are literals in them); this text never held a key,
        # so no redaction can fail, and an edit of hosts, ttl or check still shows.
        self.signed_delivery_review = "\n".join(
            [f"skip: {accepted_token_expression(hosts, REDACTED_KEY, ttl)}" for _ in older]
            + [signed_delivery_expression(hosts, REDACTED_KEY, ttl)]
        )
        # The signing key reaches the coordinator only once the rule accepts it: nothing signs
        # URLs the edge would still block.
        self.playback_hmac_key = pulumi.Output.secret(
            pulumi.Output.all(keys[signing], self.signed_delivery_rules.id).apply(lambda v: v[0])
        )
        self.playback_token_ttl = pulumi.Output.from_input(ttl)


def _key_name(component: str, generation: int) -> str:
    # Generation 1 keeps the name (and URN) the key had before rotation existed.
    suffix = "" if generation == 1 else f"-{generation}"
    return f"{component}-playback-key{suffix}"


def _entry_point_options(
    parent: pulumi.Resource, zone_id: pulumi.Input[str], phase: str, adopt_id: str | None
) -> pulumi.ResourceOptions:
    """Options of a zone entry-point ruleset: created, or taken over when ``adopt_id`` is set.

    A zone has one entry point per phase; the provider's create is a POST, which the API refuses
    (error 20217) when the zone has one already, even an empty one left by the dashboard
    (terraform-provider-cloudflare internal/services/ruleset/resource.go Create;
    issues #2004, #1222, #6273). ``import_`` takes the existing one over on the first ``up``
    (import id ``zones/<zone_id>/<ruleset_id>``: ruleset/resource.go ImportState); later runs
    find it in state and ignore the option. From then on the stack owns the phase: the update
    replaces every rule in it with the stack's, and ``pulumi destroy`` deletes the entry point.
    """
    if adopt_id is None:
        return pulumi.ResourceOptions(parent=parent)
    pulumi.log.warn(
        f"adopting the zone's existing {phase} entry point {adopt_id}: this stack then owns"
        " every rule of that phase on the whole zone; `pulumi up` replaces them with the"
        " stack's rules and `pulumi destroy` deletes them (copy any rule to keep first)"
    )
    # EdgeDeliveryArgs refuses an adopt id with a zone_id that is not known yet.
    return pulumi.ResourceOptions(parent=parent, import_=f"zones/{zone_id}/{adopt_id}")


def _ttl_settings(
    ttl: int | None, plan: CloudflarePlan
) -> tuple[
    cloudflare.RulesetRuleActionParametersEdgeTtlArgs,
    cloudflare.RulesetRuleActionParametersBrowserTtlArgs,
]:
    # Errors: a 4xx for ERROR_TTL where the plan allows so short a TTL, else revalidated each
    # time; a 5xx is never stored.
    error_ttl = ERROR_TTL if plan.min_edge_ttl <= ERROR_TTL else NO_CACHE
    if ttl is not None:
        error_ttl = min(error_ttl, ttl)
    status_ttls = [
        cloudflare.RulesetRuleActionParametersEdgeTtlStatusCodeTtlArgs(
            status_code_range=cloudflare.RulesetRuleActionParametersEdgeTtlStatusCodeTtlStatusCodeRangeArgs(
                from_=400, to=499
            ),
            value=error_ttl,
        ),
        cloudflare.RulesetRuleActionParametersEdgeTtlStatusCodeTtlArgs(
            status_code_range=cloudflare.RulesetRuleActionParametersEdgeTtlStatusCodeTtlStatusCodeRangeArgs(
                from_=500, to=599
            ),
            value=NO_STORE,
        ),
    ]
    if ttl is None:
        # The object's own Cache-Control (set at upload) decides; without one, not cached.
        return (
            cloudflare.RulesetRuleActionParametersEdgeTtlArgs(
                mode="bypass_by_default", status_code_ttls=status_ttls
            ),
            cloudflare.RulesetRuleActionParametersBrowserTtlArgs(mode="bypass_by_default"),
        )
    return (
        cloudflare.RulesetRuleActionParametersEdgeTtlArgs(
            mode="override_origin", default=ttl, status_code_ttls=status_ttls
        ),
        cloudflare.RulesetRuleActionParametersBrowserTtlArgs(mode="override_origin", default=ttl),
    )


def _cache_rules(args: EdgeDeliveryArgs) -> list[cloudflare.RulesetRuleArgs]:
    manifest_ttl = args.manifest_ttl_seconds
    if manifest_ttl is None and args.plan.min_edge_ttl <= DEFAULT_MANIFEST_TTL:
        manifest_ttl = DEFAULT_MANIFEST_TTL
    cache_key = None
    if args.signed_delivery:
        # Every viewer's URL carries its own token: keyed on it, nothing would ever be a hit.
        # The WAF checks the token before the cache is consulted.
        cache_key = cloudflare.RulesetRuleActionParametersCacheKeyArgs(
            custom_key=cloudflare.RulesetRuleActionParametersCacheKeyCustomKeyArgs(
                query_string=cloudflare.RulesetRuleActionParametersCacheKeyCustomKeyQueryStringArgs(
                    exclude=cloudflare.RulesetRuleActionParametersCacheKeyCustomKeyQueryStringExcludeArgs(
                        all=True
                    )
                )
            )
        )
    rules = []
    for ref, description, extensions, ttl in (
        ("r2_video_media", "Media files and segments: immutable names", MEDIA_EXTENSIONS,
         args.segment_ttl_seconds),
        ("r2_video_manifests", "HLS/DASH manifests: short TTL", MANIFEST_EXTENSIONS,
         manifest_ttl),
    ):  # fmt: skip
        edge_ttl, browser_ttl = _ttl_settings(ttl, args.plan)
        rules.append(
            cloudflare.RulesetRuleArgs(
                ref=ref,
                description=description,
                action="set_cache_settings",
                expression=cache_expression(args.hostnames, extensions),
                action_parameters=cloudflare.RulesetRuleActionParametersArgs(
                    # Byte ranges keep working: Cloudflare serves a Range request from the cached
                    # whole object; on a miss it fetches the whole object once (one R2 read).
                    cache=True,
                    edge_ttl=edge_ttl,
                    browser_ttl=browser_ttl,
                    cache_key=cache_key,
                ),
            )
        )
    return rules
