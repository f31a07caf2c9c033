"""docs/alerts.yml is valid (`promtool check rules`) and each alert fires on the series it is
for and stays quiet where it must (`promtool test rules` on alerts_test.yml)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_tools import promtool

pytestmark = pytest.mark.timeout(120)

HERE = Path(__file__).parent
ALERTS = HERE.parent.parent / "docs" / "alerts.yml"


def test_alert_rules_are_valid() -> None:
    promtool("check", "rules", str(ALERTS))


def test_alert_rules_fire_as_their_cases_say() -> None:
    promtool("test", "rules", "alerts_test.yml", cwd=HERE)
