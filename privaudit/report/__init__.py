"""Reports for people: charts now; the HTML and PDF/A report builds on them.

Nothing here imports matplotlib until a chart is drawn (:mod:`privaudit.report.charts`), so
importing the package costs nothing for commands that draw none.
"""

from __future__ import annotations

__all__: list[str] = []
