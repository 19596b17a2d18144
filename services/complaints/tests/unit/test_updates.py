"""Fan-out of committed changes to watchers, and the notices replicas send each other."""

import json

from kota_complaints.service_layer import updates
from kota_complaints.service_layer.updates import ChangeNotice, Update, UpdateHub


def test_a_watcher_gets_changes_to_its_complaint_or_its_agency_only():
    hub = UpdateHub()
    by_id = hub.subscribe(complaint_id="C-1")
    by_agency = hub.subscribe(agency_code="DBM")
    hub.publish(Update("C-1", "DSDA", "kota.complaints.routed.v1", view=None))
    hub.publish(Update("C-2", "DBM", "kota.complaints.submitted.v1", view=None))
    assert [u.complaint_id for u in by_id.queue] == ["C-1"]
    assert [u.complaint_id for u in by_agency.queue] == ["C-2"]
    assert hub.watched("C-1", "X") and hub.watched("C-9", "DBM") and not hub.watched("C-9", "DSDA")
    assert hub.watches_agencies()
    hub.unsubscribe(by_id)
    assert not hub.watched("C-1", "X")
    hub.unsubscribe(by_agency)
    assert not hub.watches_agencies()


def test_a_change_notice_round_trips_and_tells_its_origin():
    notice = ChangeNotice("C-1", "DBM", "kota.complaints.status-changed.v1")
    again = ChangeNotice.decode(notice.encode())
    assert again == notice and not again.from_elsewhere
    other = ChangeNotice.decode(ChangeNotice("C-1", "DBM", "kota.complaints.note-added.v1", origin="replica-b").encode())
    assert other.from_elsewhere and other.origin != updates.PROCESS_ID


def test_a_notice_carries_ids_only():
    payload = ChangeNotice("C-1", "DBM", "kota.complaints.submitted.v1").encode()
    assert set(json.loads(payload)) == {"id", "agency", "type", "origin"}
