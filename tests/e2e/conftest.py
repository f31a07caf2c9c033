"""End-to-end tests of the controller share the tiny run config of the loop tests."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "loop"))
