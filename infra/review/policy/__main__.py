"""The CrossGuard policy pack: ``pulumi preview --policy-pack infra/review/policy``.

The Pulumi CLI runs this file with the pack folder as working directory; the PolicyPack
constructor then serves the rules to the engine over gRPC until the engine stops it.
"""

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script by the CLI: put the project root (home of `infra` and `coordinator`) first.
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from pulumi_policy import EnforcementLevel, PolicyPack

from infra.review.policy.pack import PACK_NAME, policies

PolicyPack(
    name=PACK_NAME,
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=list(policies()),
)
