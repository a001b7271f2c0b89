"""``python -m cnninspect``."""

from cnninspect.cli import run

run()
