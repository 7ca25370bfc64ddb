"""r2-video's Pulumi components, one ``pulumi.ComponentResource`` a module, plus the builder of the
coordinator's Lambda package (``package``) and the rules they check (``residency``,
``validation``). Nothing here reads stack configuration: each component takes its frozen,
self-checking args.

Installed (``pip install r2-video``) this folder is the ``r2_video`` package; this repository's
own program imports it as ``infra.components``. The names below are the public API (a minor
release only adds to it, see docs/versioning.md)::

    from r2_video import SovereignVideoRegion, SovereignVideoRegionArgs

Each name is imported on first use, so ``import r2_video.residency`` does not load the provider
SDKs (about two seconds).
"""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from coordinator.endpoints import Jurisdiction

    from .alarms import CoordinatorAlarms, CoordinatorAlarmsArgs
    from .coordinator_service import (
        CoordinatorService,
        CoordinatorServiceArgs,
        CoordinatorSettings,
    )
    from .delivery import DeliveryBucket, DeliveryBucketArgs, PrefixLifecycle
    from .edge import CloudflarePlan, EdgeDelivery, EdgeDeliveryArgs
    from .mezzanine import MezzanineBucket, MezzanineBucketArgs
    from .package import LambdaPackage, build_package, coordinator_package
    from .r2_credentials import R2Credentials, R2CredentialsArgs
    from .region import SovereignVideoRegion, SovereignVideoRegionArgs
    from .sippy import SippyMigration, SippyMigrationArgs
    from .validation import ArgsError

# Public name -> the module (relative to this package) that defines it.
_EXPORTS = {
    "ArgsError": ".validation",
    "CloudflarePlan": ".edge",
    "CoordinatorAlarms": ".alarms",
    "CoordinatorAlarmsArgs": ".alarms",
    "CoordinatorService": ".coordinator_service",
    "CoordinatorServiceArgs": ".coordinator_service",
    "CoordinatorSettings": ".coordinator_service",
    "DeliveryBucket": ".delivery",
    "DeliveryBucketArgs": ".delivery",
    "EdgeDelivery": ".edge",
    "EdgeDeliveryArgs": ".edge",
    "Jurisdiction": "coordinator.endpoints",
    "LambdaPackage": ".package",
    "MezzanineBucket": ".mezzanine",
    "MezzanineBucketArgs": ".mezzanine",
    "PrefixLifecycle": ".delivery",
    "R2Credentials": ".r2_credentials",
    "R2CredentialsArgs": ".r2_credentials",
    "SippyMigration": ".sippy",
    "SippyMigrationArgs": ".sippy",
    "SovereignVideoRegion": ".region",
    "SovereignVideoRegionArgs": ".region",
    "build_package": ".package",
    "coordinator_package": ".package",
}
__all__ = [
    "ArgsError",
    "CloudflarePlan",
    "CoordinatorAlarms",
    "CoordinatorAlarmsArgs",
    "CoordinatorService",
    "CoordinatorServiceArgs",
    "CoordinatorSettings",
    "DeliveryBucket",
    "DeliveryBucketArgs",
    "EdgeDelivery",
    "EdgeDeliveryArgs",
    "Jurisdiction",
    "LambdaPackage",
    "MezzanineBucket",
    "MezzanineBucketArgs",
    "PrefixLifecycle",
    "R2Credentials",
    "R2CredentialsArgs",
    "SippyMigration",
    "SippyMigrationArgs",
    "SovereignVideoRegion",
    "SovereignVideoRegionArgs",
    "__version__",
    "build_package",
    "coordinator_package",
]


def _version() -> str:
    try:
        return metadata.version("r2-video")
    except metadata.PackageNotFoundError:  # a checkout that was never pip-installed
        return "0+checkout"


__version__ = _version()


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
