"""Photos attached to mails, kept in the platform's photo store (kota_common.photos: the store the gateway serves
from), before the mail is kept as intake: complaints then gets their URLs as the complaint's media_urls."""

from __future__ import annotations

import dataclasses
import logging

from kota_common.photos import PhotoRejected, Photos
from kota_notifications.domain.intake import IncomingMail

log = logging.getLogger(__name__)
MAX_PHOTOS = 5  # a complaint takes ten media; a mail's first five photos are plenty for staff


class MailPhotos:
    """`keep(mail)`: the mail with each attachment that is a photo kept (its URL in `photo_url`, its bytes
    dropped); anything else, or a photo refused by the checks (not an image, too large, a decompression bomb), stays
    a named attachment only and is not stored."""

    def __init__(self, photos: Photos, public_url: str):
        self.photos, self.public_url = photos, public_url

    def keep(self, mail: IncomingMail) -> IncomingMail:
        kept, attachments = 0, []
        for a in mail.attachments:
            url = ""
            if a.may_be_photo and a.content and kept < MAX_PHOTOS:
                try:
                    url = self.photos.keep(a.content, self.public_url).url
                    kept += 1
                except PhotoRejected as exc:  # the reason only: never the file's name or bytes
                    log.info("a mail's attachment was not kept as a photo: %s", exc.reason)
            attachments.append(dataclasses.replace(a, content=b"", photo_url=url))
        return dataclasses.replace(mail, attachments=tuple(attachments))
