"""The run report: `RUN/report/index.html` with its PNG charts (docs/report.md).

`data` reads the run directory into frozen values, `charts` draws them (matplotlib, imported
only there), `page` writes the HTML and `publish` puts it all in place atomically.
"""

from __future__ import annotations

from ringrift_hpc.report.data import ReportError, RunReport, read_report
from ringrift_hpc.report.publish import refresh_report, write_report

__all__ = ["ReportError", "RunReport", "read_report", "refresh_report", "write_report"]
