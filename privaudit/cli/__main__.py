"""``python -m privaudit.cli``: the same entry point as the ``privaudit`` script."""

from privaudit.cli import run

run()
