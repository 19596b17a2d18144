"""`python -m kota_cli` is `kota`."""

from kota_cli.app import app

app()
