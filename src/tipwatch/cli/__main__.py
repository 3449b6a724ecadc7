"""``python -m tipwatch.cli``: the ``tipwatch`` command."""

from tipwatch.cli import app

app(prog_name="tipwatch")
