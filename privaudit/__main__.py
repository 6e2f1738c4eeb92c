"""``python -m privaudit`` runs the command line."""

from privaudit.cli import run

run()
