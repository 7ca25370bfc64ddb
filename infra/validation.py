"""Where the input checks live now: ``infra.components.validation`` (shipped in the ``r2-video``
package as ``r2_video.validation``). Re-exported here for the configuration layer."""

from infra.components.validation import *  # noqa: F403
from infra.components.validation import __all__ as __all__
