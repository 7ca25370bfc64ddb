"""Where the AWS side of residency lives now: ``infra.components.residency`` (shipped in the
``r2-video`` package as ``r2_video.residency``). Re-exported here for the program's other parts
(settings, review, policy), so the rules stay in one place."""

from infra.components.residency import *  # noqa: F403
from infra.components.residency import __all__ as __all__
