"""``python -m infra.cost``: the same as ``python -m infra.cli cost``."""

import sys

from infra.cost.model import main

sys.exit(main())
