"""A mail's attachments as the intake sees them: the bytes read, photos kept through the photo store (the rest
named only), and the references split again for complaints."""

from __future__ import annotations

from email.message import EmailMessage

from kota_common.photos import Photos, StoredObject
from kota_common.photos_testing import bomb_png, camera_photo
from kota_notifications.adapters.photos import MailPhotos
from kota_notifications.domain.intake import photos_and_others, read_mail


class MemoryStore:
    def __init__(self):
        self.objects: dict[str, StoredObject] = {}

    def put(self, name, data, content_type):
        self.objects[name] = StoredObject(data, content_type)

    def get(self, name):
        return self.objects.get(name)


def mail_with(*attachments: tuple[str, str, bytes]) -> bytes:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "Warga <warga@contoh.id>", "lapor@kota.local", "Banjir"
    mail.set_content("Banjir setinggi lutut di Jl. Kebon Sirih sejak pagi.")
    for filename, content_type, data in attachments:
        maintype, subtype = content_type.split("/")
        mail.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return mail.as_bytes()


def test_a_mails_photo_is_kept_and_the_rest_is_only_named():
    photo = camera_photo()
    mail = read_mail(mail_with(("banjir.jpg", "application/octet-stream", photo), ("surat.pdf", "application/pdf", b"%PDF"),
                               ("bom.png", "image/png", bomb_png())))
    assert [a.content for a in mail.attachments][0] == photo and [a.may_be_photo for a in mail.attachments] == [True, False, True]
    store = MemoryStore()
    kept = MailPhotos(Photos(store), "http://portal.example").keep(mail)
    [url, pdf, bomb] = [a.reference for a in kept.attachments]
    assert url.startswith("http://portal.example/media/photos/") and (pdf, bomb) == ("surat.pdf", "bom.png")
    assert all(a.content == b"" for a in kept.attachments)  # the intake keeps no bytes
    assert len(store.objects) == 2  # the photo and its thumbnail; nothing of the others
    assert photos_and_others([url, pdf, bomb]) == ([url], ["surat.pdf", "bom.png"])
