"""The collab service's entry in the platform (entry point `kota.services`): how `kota up` runs it."""

from kota_collab.config import CollabSettings
from kota_collab.demo import seed
from kota_common.registration import ServiceSpec

SERVICE = ServiceSpec("collab", CollabSettings, start_order=45, demo=seed)
