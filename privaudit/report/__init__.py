"""Reports for people: the report model (every number shown), charts, and the renderer of
self-contained HTML and PDF/A-3 with the evidence attached.

Nothing here imports matplotlib until a chart is drawn (:mod:`privaudit.report.charts`), nor
WeasyPrint until a PDF is rendered, so importing the package costs nothing for commands that
draw none.
"""

from __future__ import annotations

__all__: list[str] = []
