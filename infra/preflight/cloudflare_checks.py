"""The Cloudflare side of the preflight: token, zone, Regional Services, entry points, bucket.

API pages (request paths and answer shapes) used here and mirrored by the test fake
(``tests/preflight/fake_cloudflare.py``):

* token: https://developers.cloudflare.com/api/resources/accounts/subresources/tokens/methods/verify/
  (and ``/user/tokens/verify`` for a user token), then ``/accounts/{id}/tokens/{token_id}``
  or ``/user/tokens/{token_id}`` for its policies;
* zone: https://developers.cloudflare.com/api/resources/zones/methods/get/ (``account.id``,
  ``name``, ``plan.legacy_id``);
* regions: https://developers.cloudflare.com/data-localization/regional-services/get-started/
  (``GET /accounts/{id}/addressing/regional_hostnames/regions`` -> ``[{key, label}]``);
* entry points: https://developers.cloudflare.com/api/resources/rulesets/subresources/phases/
  (``GET /zones/{id}/rulesets/phases/{phase}/entrypoint``; 404 when there is none);
* R2: https://developers.cloudflare.com/api/resources/r2/subresources/buckets/ (get, list with
  ``cf-r2-jurisdiction``), ``.../domains/managed`` (``{bucketId, domain, enabled}``) and
  ``.../domains/custom`` (``{domains: [{domain, enabled, zoneId, ...}]}``).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator

from coordinator.endpoints import Jurisdiction
from infra.components.edge import CACHE_PHASE, FIREWALL_PHASE
from infra.preflight.cloudflare_api import Answer, CloudflareApi
from infra.preflight.report import Check, Status
from infra.settings import PROJECT, StackSettings

__all__ = ["OWN_RULESET_NAMES", "cloudflare_checks", "required_permissions"]

# The names EdgeDelivery gives its entry points: an entry point with one of these is the stack's
# own (from an earlier `up`), not someone else's to adopt.
OWN_RULESET_NAMES = {
    CACHE_PHASE: "r2-video delivery cache",
    FIREWALL_PHASE: "r2-video signed delivery",
}
_ADOPT_KEYS = {CACHE_PHASE: "adoptCacheRulesetId", FIREWALL_PHASE: "adoptFirewallRulesetId"}
_JURISDICTION = "cf-r2-jurisdiction"


def required_permissions(settings: StackSettings) -> dict[str, str]:
    """API permission-group name -> why the stack needs it (README, "Deploying for real").

    The names are the API's ("... Write"); the dashboard calls the same groups "... Edit".
    """
    needed = {
        "Workers R2 Storage Write": "the bucket, its CORS, lifecycle, r2.dev and custom domains",
        "Account API Tokens Write": "the coordinator's bucket-scoped R2 token",
        "Zone Read": "the delivery zone",
    }
    edge = settings.edge
    if settings.delivery.hostnames:
        needed["DNS Write"] = "custom domains create DNS records; regional hostnames"
        needed["Cache Settings Write"] = f"the {CACHE_PHASE} entry point (cache rules)"
    if edge.tiered_cache:
        needed["Zone Settings Write"] = "Tiered Cache"
    if edge.signed_delivery:
        needed["Zone WAF Write"] = f"the {FIREWALL_PHASE} entry point (signed delivery)"
    return needed


def cloudflare_checks(api: CloudflareApi, settings: StackSettings) -> Iterator[Check]:
    yield from _token(api, settings)
    zone_ok = yield from _zone(api, settings)
    if zone_ok:
        yield from _regional_services(api, settings)
        yield from _entry_points(api, settings)
    yield from _bucket(api, settings)


def _set(stack: str, key: str, value: str) -> str:
    return f"pulumi config set --stack {stack} {PROJECT}:{key} {value}"


def _token(api: CloudflareApi, settings: StackSettings) -> Iterator[Check]:
    account = settings.cloudflare_account_id
    verify = api.get(f"/accounts/{account}/tokens/verify")
    details_path = f"/accounts/{account}/tokens/{{}}"
    if not verify.ok:
        verify = api.get("/user/tokens/verify")
        details_path = "/user/tokens/{}"
    result = verify.result if isinstance(verify.result, dict) else {}
    if not verify.ok or result.get("status") != "active":
        state = result.get("status") or verify.error_text
        yield Check(
            name="cloudflare token",
            status=Status.FAIL,
            detail=f"not usable: {state}",
            fix="set CLOUDFLARE_API_TOKEN to an active API token of account"
            f" {account} (the one `pulumi up` uses)",
        )
        return
    token_id = str(result.get("id", ""))
    yield Check(name="cloudflare token", status=Status.PASS, detail=f"active (id {token_id})")

    needed = required_permissions(settings)
    details = api.get(details_path.format(token_id))
    policies = details.result.get("policies") if isinstance(details.result, dict) else None
    if not details.ok or not isinstance(policies, list):
        yield Check(
            name="cloudflare token permissions",
            status=Status.WARN,
            detail=f"the token cannot read its own policies ({details.error_text})",
            fix="check by hand that it holds: " + ", ".join(sorted(needed)),
        )
        return
    granted = {
        str(group.get("name"))
        for policy in policies
        if isinstance(policy, dict) and policy.get("effect") == "allow"
        for group in policy.get("permission_groups") or []
        if isinstance(group, dict)
    }
    missing = {name: why for name, why in needed.items() if name not in granted}
    if missing:
        yield Check(
            name="cloudflare token permissions",
            status=Status.FAIL,
            detail="missing " + "; ".join(f"{n} ({why})" for n, why in sorted(missing.items())),
            fix="add them to the token (dashboard: the same names with Edit for Write)",
        )
    else:
        yield Check(
            name="cloudflare token permissions",
            status=Status.PASS,
            detail="holds " + ", ".join(sorted(needed)),
        )


def _zone(api: CloudflareApi, settings: StackSettings) -> Generator[Check, None, bool]:
    zone_id, stack = settings.edge.zone_id, settings.stack
    answer = api.get(f"/zones/{zone_id}")
    zone = answer.result if isinstance(answer.result, dict) else None
    if not answer.ok or zone is None:
        yield Check(
            name="cloudflare zone",
            status=Status.FAIL,
            detail=f"{zone_id} not readable: {answer.error_text}",
            fix=f"check cloudflareZoneId ({_set(stack, 'cloudflareZoneId', '<zone id>')}) and"
            " give the token Zone Read on it",
        )
        return False
    problems, fixes = [], []
    owner = (zone.get("account") or {}).get("id")
    if owner != settings.cloudflare_account_id:
        problems.append(f"belongs to account {owner}, not {settings.cloudflare_account_id}")
        fixes.append(
            "custom domains need the zone in the bucket's account: use a zone of account"
            f" {settings.cloudflare_account_id}, or"
            f" {_set(stack, 'cloudflareAccountId', str(owner))}"
        )
    if zone.get("name") != settings.delivery.zone_name:
        problems.append(f"is named {zone.get('name')!r}, not {settings.delivery.zone_name!r}")
        fixes.append(_set(stack, "zoneName", str(zone.get("name"))))
    plan = (zone.get("plan") or {}).get("legacy_id")
    if plan != settings.edge.plan.value:
        problems.append(f"is on plan {plan!r}, the stack says {settings.edge.plan.value!r}")
        fixes.append(_set(stack, "cloudflarePlan", str(plan)))
    if problems:
        yield Check(
            name="cloudflare zone",
            status=Status.FAIL,
            detail=f"{zone_id} " + "; ".join(problems),
            fix="; ".join(fixes),
        )
    else:
        yield Check(
            name="cloudflare zone",
            status=Status.PASS,
            detail=f"{zone.get('name')} in account {owner}, plan {plan}",
        )
    return True


def _regional_services(api: CloudflareApi, settings: StackSettings) -> Iterator[Check]:
    key = settings.edge.region_key
    if key is None:
        yield Check(name="regional services", status=Status.PASS, detail="not used by this stack")
        return
    answer = api.get(
        f"/accounts/{settings.cloudflare_account_id}/addressing/regional_hostnames/regions"
    )
    regions = answer.result if answer.ok and isinstance(answer.result, list) else None
    if regions is None:
        yield Check(
            name="regional services",
            status=Status.FAIL,
            detail=f"regions not readable: {answer.error_text}",
            fix="Regional Services needs the Data Localization Suite on the account and DNS"
            f" Read on the zone; without it {_set(settings.stack, 'regionalHostnames', 'false')}",
        )
        return
    keys = sorted(str(r.get("key")) for r in regions if isinstance(r, dict))
    if key in keys:
        yield Check(name="regional services", status=Status.PASS, detail=f"region key {key!r}")
    else:
        yield Check(
            name="regional services",
            status=Status.FAIL,
            detail=f"region key {key!r} is not offered to this account (offered:"
            f" {', '.join(keys) or 'none'})",
            fix="ask Cloudflare to enable the region, or"
            f" {_set(settings.stack, 'regionalHostnames', 'false')}",
        )


def _entry_points(api: CloudflareApi, settings: StackSettings) -> Iterator[Check]:
    edge = settings.edge
    wanted = {CACHE_PHASE: (bool(edge.hostnames), edge.adopt_cache_ruleset_id)}
    wanted[FIREWALL_PHASE] = (edge.signed_delivery, edge.adopt_firewall_ruleset_id)
    for phase, (used, adopt_id) in wanted.items():
        if not used:
            continue
        name = f"entry point {phase}"
        answer = api.get(f"/zones/{edge.zone_id}/rulesets/phases/{phase}/entrypoint")
        if answer.status == 404:
            if adopt_id:
                yield Check(
                    name=name,
                    status=Status.FAIL,
                    detail=f"the zone has none, but {_ADOPT_KEYS[phase]} is {adopt_id}",
                    fix=f"pulumi config rm --stack {settings.stack} {PROJECT}:{_ADOPT_KEYS[phase]}",
                )
            else:
                yield Check(name=name, status=Status.PASS, detail="none yet: the stack creates it")
            continue
        ruleset = answer.result if answer.ok and isinstance(answer.result, dict) else None
        if ruleset is None:
            yield Check(
                name=name,
                status=Status.FAIL,
                detail=f"not readable: {answer.error_text}",
                fix="give the token the permission of that phase (see the token check)",
            )
            continue
        yield _entry_point(settings, phase, ruleset, adopt_id)


def _entry_point(settings: StackSettings, phase: str, ruleset: dict, adopt_id: str | None) -> Check:
    name = f"entry point {phase}"
    ruleset_id = str(ruleset.get("id"))
    rules = [r for r in ruleset.get("rules") or [] if isinstance(r, dict)]
    listed = ", ".join(repr(r.get("description") or r.get("ref") or r.get("id")) for r in rules)
    count = f"{len(rules)} rule{'s' if len(rules) != 1 else ''}"
    what = f"{ruleset_id} ({count}{': ' + listed if rules else ''})"
    if adopt_id == ruleset_id:
        return Check(
            name=name,
            status=Status.PASS,
            detail=f"adopting {what}: the stack replaces these rules with its own",
        )
    if adopt_id:
        return Check(
            name=name,
            status=Status.FAIL,
            detail=f"the zone's entry point is {ruleset_id}, {_ADOPT_KEYS[phase]} says {adopt_id}",
            fix=_set(settings.stack, _ADOPT_KEYS[phase], ruleset_id),
        )
    if ruleset.get("name") == OWN_RULESET_NAMES[phase]:
        return Check(name=name, status=Status.PASS, detail=f"the stack's own: {what}")
    return Check(
        name=name,
        status=Status.FAIL,
        detail=f"the zone has one already, {what}: creating another fails (error 20217)",
        fix=f"copy any rule to keep, then {_set(settings.stack, _ADOPT_KEYS[phase], ruleset_id)}"
        " (the stack then owns every rule of this phase on the zone and replaces them)",
    )


def _bucket(api: CloudflareApi, settings: StackSettings) -> Iterator[Check]:
    account = settings.cloudflare_account_id
    bucket, jurisdiction = settings.delivery.bucket_name, settings.jurisdiction.value
    base = f"/accounts/{account}/r2/buckets"
    here = {_JURISDICTION: jurisdiction}
    answer = api.get(f"{base}/{bucket}", headers=here)
    if answer.ok and isinstance(answer.result, dict):
        found = answer.result
        yield Check(
            name="r2 bucket",
            status=Status.PASS,
            detail=f"{bucket} exists in jurisdiction {jurisdiction}"
            f" (location {found.get('location')}, created {found.get('creation_date')})",
        )
        yield _location(settings, found)
        yield _r2_dev(api, settings, base, here)
    elif answer.status == 404:
        elsewhere = [
            j.value
            for j in Jurisdiction
            if j.value != jurisdiction
            and api.get(f"{base}/{bucket}", headers={_JURISDICTION: j.value}).ok
        ]
        if elsewhere:
            yield Check(
                name="r2 bucket",
                status=Status.FAIL,
                detail=f"{bucket} exists in jurisdiction {', '.join(elsewhere)}, not"
                f" {jurisdiction}; a bucket's jurisdiction never changes",
                fix="if this stack made it, put the jurisdiction back; to move the data, follow"
                ' README "Replacing the delivery bucket" (new bucket, copy, switch, delete)',
            )
        else:
            yield Check(
                name="r2 bucket",
                status=Status.PASS,
                detail=f"{bucket} does not exist yet: `pulumi up` creates it in {jurisdiction}",
            )
    else:
        yield Check(
            name="r2 bucket",
            status=Status.FAIL,
            detail=f"{bucket} not readable: {answer.error_text}",
            fix="give the token Workers R2 Storage Write (or Read) on the account",
        )
        return
    yield from _custom_domains(api, settings, base)


def _location(settings: StackSettings, found: dict) -> Check:
    hint = settings.delivery.location_hint
    actual = str(found.get("location") or "").lower()
    if hint is None or hint == actual:
        return Check(
            name="r2 location", status=Status.PASS, detail=f"{actual or 'none'} as configured"
        )
    # The provider keeps the state's location whatever the program says, and a re-created
    # bucket keeps its first one (terraform-provider-cloudflare r2_bucket/schema.go).
    return Check(
        name="r2 location",
        status=Status.FAIL,
        detail=f"the bucket is in {actual!r}, locationHint says {hint!r}; a hint never moves a"
        " bucket",
        fix=f"{_set(settings.stack, 'locationHint', actual)}; to move the data, follow README"
        ' "Replacing the delivery bucket"',
    )


def _r2_dev(api: CloudflareApi, settings: StackSettings, base: str, here: dict) -> Check:
    bucket = settings.delivery.bucket_name
    answer = api.get(f"{base}/{bucket}/domains/managed", headers=here)
    if not answer.ok or not isinstance(answer.result, dict):
        return Check(
            name="r2.dev",
            status=Status.FAIL,
            detail=f"not readable: {answer.error_text}",
            fix="give the token Workers R2 Storage Write (or Read) on the account",
        )
    enabled = bool(answer.result.get("enabled"))
    wanted = settings.delivery.r2_dev_enabled
    if enabled == wanted:
        return Check(name="r2.dev", status=Status.PASS, detail="on" if enabled else "off")
    # Drift the provider cannot see: R2ManagedDomain's Read is empty
    # (terraform-provider-cloudflare internal/services/r2_managed_domain/resource.go).
    return Check(
        name="r2.dev",
        status=Status.FAIL,
        detail=f"{'on' if enabled else 'off'} ({answer.result.get('domain')}), the stack says"
        f" {'on' if wanted else 'off'}"
        + ("; a public URL past signed delivery and the cache rules" if enabled else ""),
        fix=f"{'disable' if enabled else 'enable'} r2.dev in the bucket's settings in the"
        f" dashboard, or PUT {base}/{bucket}/domains/managed with"
        f' {{"enabled": {str(wanted).lower()}}} and header {_JURISDICTION}:'
        f" {settings.jurisdiction.value}; `pulumi refresh` cannot see this setting",
    )


def _list_buckets(api: CloudflareApi, base: str, jurisdiction: str) -> Iterator[str]:
    cursor = None
    while True:
        query = {"per_page": "1000", **({"cursor": cursor} if cursor else {})}
        answer = api.get(base, headers={_JURISDICTION: jurisdiction}, query=query)
        result = answer.result if answer.ok and isinstance(answer.result, dict) else {}
        for item in result.get("buckets") or []:
            if isinstance(item, dict) and item.get("name"):
                yield str(item["name"])
        cursor = answer.result_info.get("cursor")
        if not cursor:
            return


def _custom_domains(api: CloudflareApi, settings: StackSettings, base: str) -> Iterator[Check]:
    hostnames = set(settings.delivery.hostnames)
    if not hostnames:
        return
    ours = (settings.jurisdiction.value, settings.delivery.bucket_name)
    taken: list[str] = []
    for jurisdiction in Jurisdiction:
        for name in _list_buckets(api, base, jurisdiction.value):
            if (jurisdiction.value, name) == ours:
                continue
            answer: Answer = api.get(
                f"{base}/{name}/domains/custom", headers={_JURISDICTION: jurisdiction.value}
            )
            result = answer.result if answer.ok and isinstance(answer.result, dict) else {}
            for domain in result.get("domains") or []:
                host = domain.get("domain") if isinstance(domain, dict) else None
                if host in hostnames:
                    taken.append(f"{host} -> {name} ({jurisdiction.value})")
    if taken:
        yield Check(
            name="custom domains",
            status=Status.FAIL,
            detail="attached to another bucket: " + ", ".join(sorted(taken)),
            fix="detach them from that bucket first (a hostname serves one bucket), or choose"
            " other deliveryHostnames",
        )
    else:
        yield Check(
            name="custom domains",
            status=Status.PASS,
            detail=f"{', '.join(sorted(hostnames))} free or already this bucket's",
        )
