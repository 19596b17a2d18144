"""A mail's photo attachments become the complaint's photos: a real SMTP conversation with the notifications
intake, the real complaints service (gRPC), and the real gateway serving the photo from the same store."""

from __future__ import annotations

import smtplib
import uuid
from email.message import EmailMessage

import grpc
import httpx
import pytest
from aiosmtpd.controller import Controller

from kota.complaints.v1 import complaints_pb2 as cpb
from kota.complaints.v1 import complaints_pb2_grpc as cpb_grpc
from kota.notifications.v1 import notifications_pb2 as pb
from kota.notifications.v1 import notifications_pb2_grpc as pb_grpc
from kota_common.auth import issue_token
from kota_common.photos import PhotoSettings
from kota_common.photos_testing import GPS_IFD, IDENTIFYING, bomb_png, camera_photo, read_back
from kota_common.settings import CommonSettings
from kota_common.testing import ServiceProcess, free_port, wait_until
from kota_gateway.testing import start_gateway
from kota_notifications.config import NotificationsSettings
from kota_notifications.entrypoints.app import bootstrap

pytestmark = pytest.mark.integration


class Outbox:
    """Where the service's answers go: an SMTP server that keeps nothing."""

    async def handle_DATA(self, server, session, envelope):
        return "250 OK"


@pytest.fixture
def photo_stack(kafka_bootstrap, database_url, tmp_path):
    photos_dir = tmp_path / "photos"
    address = f"127.0.0.1:{free_port()}"
    complaints = ServiceProcess("kota_complaints", {
        "KOTA_KAFKA_BOOTSTRAP": kafka_bootstrap, "KOTA_COMPLAINTS_GRPC_ADDRESS": address,
        "KOTA_COMPLAINTS_DATABASE_URL": f"sqlite:///{tmp_path}/complaints.db",
        "KOTA_COMPLAINTS_CONSUMER_GROUP": f"test-{uuid.uuid4().hex[:8]}"}, address, tmp_path / "complaints.log")
    outbox = Controller(Outbox(), hostname="127.0.0.1", port=free_port())
    outbox.start()
    host = gateway = None
    try:
        complaints.start(timeout=180)
        gateway = start_gateway(tmp_path, address, kafka_bootstrap, KOTA_PHOTOS_LOCAL_DIR=str(photos_dir))
        settings = NotificationsSettings(
            database_url=database_url, grpc_address=f"127.0.0.1:{free_port()}",
            smtp_intake_address=f"127.0.0.1:{free_port()}", smtp_port=outbox.port, complaints_address=address,
            consumer_group=f"test-nt-{uuid.uuid4().hex[:8]}", dispatch_interval_s=0.1, intake_retry_cap_s=1,
            portal_url=gateway.base_url, common=CommonSettings(kafka_bootstrap=kafka_bootstrap),
            photos=PhotoSettings(local_dir=str(photos_dir)))
        host = bootstrap(settings)
        host.start()
        yield settings, address, gateway, photos_dir
    finally:
        if host:
            host.stop()
        if gateway:
            gateway.stop()
        complaints.stop()
        outbox.stop()


def send(settings: NotificationsSettings, body: str, attachments: list[tuple[str, str, bytes]]) -> None:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "Warga <warga.foto@contoh.id>", "lapor@kota.local", "Jalan rusak"
    mail["Message-ID"] = f"<{uuid.uuid4().hex}@contoh.id>"
    mail.set_content(body)
    for filename, content_type, data in attachments:
        maintype, subtype = content_type.split("/")
        mail.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    host, _, port = settings.smtp_intake_address.rpartition(":")
    with smtplib.SMTP(host, int(port), timeout=60) as smtp:
        smtp.send_message(mail)


def test_a_mails_photo_becomes_the_complaints_photo_without_its_metadata(photo_stack):
    settings, complaints_address, gateway, photos_dir = photo_stack
    send(settings, "Sampah menumpuk di TPS Gambir sejak tiga hari, baunya menyengat.", [
        ("IMG_4032.JPG", "image/jpeg", camera_photo(size=(300, 200))),
        ("surat-rt.pdf", "application/pdf", b"%PDF-1.7\n%%EOF\n"),
        ("bukan-foto.png", "image/png", bomb_png()),  # an "image" that is a decompression bomb: not kept
    ])
    staff = [("authorization", "Bearer " + issue_token(settings.common.auth_secret, "petugas", "DLH", ["staff"]))]
    with grpc.insecure_channel(settings.grpc_address) as channel:
        stub = pb_grpc.NotificationsServiceStub(channel)

        def submitted():
            found = stub.ListIntake(pb.ListIntakeRequest(), metadata=staff, timeout=10).intake
            return [i for i in found if i.complaint_id]
        [intake] = wait_until(submitted, 90, what="the mail submitted to complaints")

    with grpc.insecure_channel(complaints_address) as channel:
        complaint = cpb_grpc.ComplaintsServiceStub(channel).GetComplaint(
            cpb.GetComplaintRequest(id=intake.complaint_id), timeout=10).complaint
    [url] = complaint.media_urls
    assert url.startswith(gateway.base_url + "/media/photos/") and url.endswith(".jpg")
    name = url.rsplit("/", 1)[1]
    assert {p.name for p in photos_dir.rglob("*") if p.is_file()} == {name, name.replace(".jpg", ".thumb.jpg")}
    # the other attachments are named for staff, and not stored
    assert "surat-rt.pdf" in complaint.description and "bukan-foto.png" in complaint.description

    photo = httpx.get(url, timeout=30)  # served by the gateway from the store notifications wrote to
    assert photo.status_code == 200 and photo.headers["cache-control"].endswith("immutable")
    image = read_back(photo.content)
    assert image.size == (300, 200) and dict(image.getexif()) == {} and image.getexif().get_ifd(GPS_IFD) == {}
    assert not any(needle in photo.content for needle in IDENTIFYING)
