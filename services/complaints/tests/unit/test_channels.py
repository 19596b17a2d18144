"""Channel adapters normalise raw messages into one complaint. No I/O."""

import pytest

from kota_common.reference import AreaDirectory
from kota_complaints.adapters.channels import ChannelNormaliser, RawMessage, contact_from_sender
from kota_complaints.adapters.reference_data import read_reference
from kota_complaints.domain.model import Channel, ServiceCategory


@pytest.fixture(scope="module")
def normaliser():
    doc = read_reference()
    categories = {
        c["code"]: ServiceCategory(c["code"], c["name"], "", c["group"], c["agency_code"], c["sla_hours"],
                                   keywords=tuple(c["keywords"]))
        for c in doc["categories"]
    }
    return ChannelNormaliser(categories, AreaDirectory.load_jakarta())


def test_structured_sms(normaliser):
    n = normaliser.normalise(RawMessage(Channel.SMS, "LAPOR#sampah#Kelapa Gading Barat#Sampah tidak diangkut 3 hari",
                                        sender="081234567890", external_ref="sms-1"))
    cmd = n.command
    assert cmd.service_code == "waste" and cmd.description == "Sampah tidak diangkut 3 hari"
    assert cmd.kelurahan_code and n.found_place == cmd.kelurahan_code
    assert AreaDirectory.load_jakarta().find_kelurahan(cmd.kelurahan_code).name == "Kelapa Gading Barat"
    assert cmd.contact.phone == "081234567890" and cmd.idempotency_key == "sms:sms-1"


def test_free_text_tweet_finds_category_and_place(normaliser):
    n = normaliser.normalise(RawMessage(Channel.TWITTER, "@DKIJakarta jalan berlubang parah di Cempaka Putih Timur, bahaya!",
                                        sender="@warga_jkt"))
    assert n.command.service_code == "road_damage" and not n.guessed_category
    assert n.command.contact.device_id == "@warga_jkt" and n.command.contact.phone == ""
    assert AreaDirectory.load_jakarta().find_kelurahan(n.command.kelurahan_code).name == "Cempaka Putih Timur"


def test_email_subject_joins_the_text_and_unknown_category_falls_back(normaliser):
    n = normaliser.normalise(RawMessage(Channel.EMAIL, "Mohon ditindaklanjuti.", subject="Keluhan pelayanan",
                                        sender="budi@contoh.id", sender_name="Budi Santoso"))
    assert n.command.description == "Keluhan pelayanan: Mohon ditindaklanjuti."
    assert n.command.service_code == "other" and n.guessed_category
    assert (n.command.contact.email, n.command.contact.first_name, n.command.contact.last_name) == (
        "budi@contoh.id", "Budi", "Santoso")


def test_a_telegram_report_reads_the_structured_form_and_keeps_the_chat_id_as_no_phone(normaliser):
    n = normaliser.normalise(RawMessage(Channel.TELEGRAM, "LAPOR#banjir#Gambir#Air setinggi lutut di jalan",
                                        sender="1234567890", external_ref="7001"))
    assert n.command.service_code == "flooding" and n.command.description == "Air setinggi lutut di jalan"
    assert n.command.contact.device_id == "1234567890" and n.command.contact.phone == ""
    assert n.command.idempotency_key == "telegram:7001"


def test_telegram_is_a_channel_of_the_grpc_contract():
    from kota.complaints.v1 import complaints_pb2 as pb
    from kota_complaints.entrypoints.grpc_api import channel_from_pb, channel_to_pb

    assert channel_to_pb(Channel.TELEGRAM) == pb.CHANNEL_TELEGRAM
    assert channel_from_pb(pb.CHANNEL_TELEGRAM) == "telegram"


def test_structured_form_only_on_sms_and_chat(normaliser):
    n = normaliser.normalise(RawMessage(Channel.EMAIL, "LAPOR#banjir#Gambir#air naik"))
    assert n.command.description.startswith("LAPOR#")


@pytest.mark.parametrize("sender, field", [("+62 812 3456 7890", "phone"), ("a@b.id", "email"), ("dev-77", "device_id")])
def test_contact_from_sender(sender, field):
    assert getattr(contact_from_sender(sender), field) == sender
