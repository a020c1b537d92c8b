"""What every benchmark result records about the machine it ran on."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime


def machine() -> dict:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "date": datetime.now(UTC).date().isoformat(),
    }
