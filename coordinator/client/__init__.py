"""The worker half of the broker: publish a packaged HLS/DASH ladder through the coordinator.

``python -m coordinator publish --coordinator URL --job ID DIR`` (``cli``), or in Python::

    from coordinator.client import publish_directory
    summary = publish_directory(DIR, coordinator=URL, job_id=ID, token=TOKEN)

Modules: ``ladder`` (which files, in which order), ``media`` (content types, Cache-Control),
``api`` (the coordinator's routes), ``transfer`` (PUTs to presigned URLs), ``journal`` (what is
stored, for resuming), ``publisher`` (the waves), ``cli``. Needs httpx (and tqdm for the
progress bar): ``pip install '.[worker]'``. Nothing on the coordinator's Lambda imports this.
"""

from __future__ import annotations

from pathlib import Path

from .api import CoordinatorApi, CoordinatorRefused, CoordinatorUnavailable, RetryPolicy
from .journal import DEFAULT_NAME, Journal
from .ladder import Ladder, LadderError, scan_ladder
from .publisher import Publisher, PublishError, PublishOptions, PublishSummary
from .transfer import StoreRefusedUpload, Transfer

__all__ = [
    "CoordinatorApi",
    "CoordinatorRefused",
    "CoordinatorUnavailable",
    "Journal",
    "Ladder",
    "LadderError",
    "PublishError",
    "PublishOptions",
    "PublishSummary",
    "Publisher",
    "RetryPolicy",
    "StoreRefusedUpload",
    "Transfer",
    "publish_directory",
    "scan_ladder",
]


def publish_directory(
    root: Path | str,
    *,
    coordinator: str,
    job_id: str,
    token: str,
    options: PublishOptions | None = None,
    journal_path: Path | None = None,
) -> PublishSummary:
    """Publish ``root`` for the job, resuming from ``journal_path`` (default: inside ``root``)."""
    root = Path(root)
    journal = Journal(journal_path or root / DEFAULT_NAME, job_id=job_id)
    with CoordinatorApi(coordinator, job_id=job_id, token=token) as api:
        transfer = Transfer()
        try:
            return Publisher(api=api, transfer=transfer, options=options).publish(
                root, journal=journal
            )
        finally:
            transfer.close()
