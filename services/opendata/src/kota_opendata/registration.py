"""The open data service's entry in the platform (entry point `kota.services`): how `kota up` runs it."""

from kota_common.registration import ServiceSpec
from kota_opendata import demo
from kota_opendata.config import OpenDataSettings

SERVICE = ServiceSpec("opendata", OpenDataSettings, start_order=30, demo=demo.seed)
