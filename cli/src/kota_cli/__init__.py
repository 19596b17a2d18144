"""The `kota` command line (kota_cli.app); it finds the services through the `kota.services` entry points."""
