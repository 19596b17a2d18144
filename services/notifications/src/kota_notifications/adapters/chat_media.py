"""Photos sent on WhatsApp or Telegram, fetched from the platform's media API and kept in the platform's photo store
(kota_common.photos: checked, without metadata, with a thumbnail), the store the gateway serves from.

- WhatsApp Cloud API: `GET <graph>/<media id>` (bearer token) answers the media's `url` (valid for minutes), which
  is then downloaded with the same bearer token.
- Telegram Bot API: `GET <bot>/getFile?file_id=...` answers `file_path`, downloaded from `<files>/<file_path>`.

The download is refused once it passes the photo size limit, before it is read further (Content-Length first, then
the bytes as they come): a platform (or whoever stands in its place) cannot make this service read gigabytes.
URLs are never logged: Telegram's carry the bot's token."""

from __future__ import annotations

import logging

import httpx

from kota_common.photos import PhotoRejected, Photos
from kota_notifications.domain.chat_media import MediaRef, MediaRefused, MediaUnavailable

log = logging.getLogger(__name__)


def whatsapp_graph_url(send_url: str) -> str:
    """The Graph API's root from the messages URL: `https://graph.facebook.com/v21.0/<phone-number-id>/messages`
    -> `https://graph.facebook.com/v21.0`."""
    return send_url.rstrip("/").rsplit("/", 2)[0] if send_url.count("/") >= 4 else ""


def telegram_urls(send_url: str) -> tuple[str, str]:
    """(the bot's method root, the bot's file root) from the sendMessage URL:
    `https://api.telegram.org/bot<token>/sendMessage` -> (`https://api.telegram.org/bot<token>`,
    `https://api.telegram.org/file/bot<token>`)."""
    if send_url.count("/") < 4:
        return "", ""
    bot = send_url.rstrip("/").rsplit("/", 1)[0]
    root, _, bot_path = bot.rpartition("/")
    return bot, f"{root}/file/{bot_path}"


class PlatformMedia:
    """`keep(media) -> url` of the kept photo; MediaRefused (not kept, for good) or MediaUnavailable (try later)."""

    def __init__(self, client: httpx.Client, photos: Photos, public_url: str, *, whatsapp_graph: str = "",
                 whatsapp_token: str = "", telegram_bot: str = "", telegram_files: str = ""):
        self.client, self.photos, self.public_url = client, photos, public_url
        self.whatsapp_graph, self.whatsapp_token = whatsapp_graph.rstrip("/"), whatsapp_token
        self.telegram_bot, self.telegram_files = telegram_bot.rstrip("/"), telegram_files.rstrip("/")
        self.max_bytes = photos.settings.max_bytes

    def keep(self, media: MediaRef) -> str:
        data = self._whatsapp(media.media_id) if media.platform == "whatsapp" else self._telegram(media.media_id)
        try:
            return self.photos.keep(data, self.public_url).url
        except PhotoRejected as exc:  # the reason only: never the file's bytes
            log.info("a %s photo was not kept: %s", media.platform, exc.reason)
            raise MediaRefused(exc.reason) from None

    def _whatsapp(self, media_id: str) -> bytes:
        if not self.whatsapp_graph:
            raise MediaRefused("WhatsApp's media API is not configured")
        auth = {"Authorization": f"Bearer {self.whatsapp_token}"} if self.whatsapp_token else {}
        about = self._json(f"{self.whatsapp_graph}/{media_id}", auth, "WhatsApp")
        url = about.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise MediaRefused("WhatsApp gave no address for the media")
        self._refuse_size(about.get("file_size"))
        return self._download(url, auth, "WhatsApp")

    def _telegram(self, file_id: str) -> bytes:
        if not self.telegram_bot:
            raise MediaRefused("Telegram's Bot API is not configured")
        answer = self._json(f"{self.telegram_bot}/getFile", {}, "Telegram", {"file_id": file_id})
        result = answer.get("result") if answer.get("ok") else None
        path = result.get("file_path") if isinstance(result, dict) else None
        if not isinstance(path, str) or not path or ".." in path:
            raise MediaRefused("Telegram gave no file for the media")
        self._refuse_size(result.get("file_size") if isinstance(result, dict) else None)
        return self._download(f"{self.telegram_files}/{path}", {}, "Telegram")

    def _refuse_size(self, size: object) -> None:
        if isinstance(size, int) and size > self.max_bytes:
            raise MediaRefused(f"the file is larger than {self.max_bytes / (1024 * 1024):.3g} MB")

    def _json(self, url: str, headers: dict, platform: str, params: dict | None = None) -> dict:
        try:
            response = self.client.get(url, headers=headers, params=params)
        except httpx.HTTPError as exc:
            raise MediaUnavailable(f"{platform}: {type(exc).__name__}") from None
        self._check(response, platform)
        try:
            found = response.json()
        except ValueError:
            raise MediaUnavailable(f"{platform}: an answer that is not JSON") from None
        if not isinstance(found, dict):
            raise MediaRefused(f"{platform} gave no description of the media")
        return found

    def _download(self, url: str, headers: dict, platform: str) -> bytes:
        try:
            with self.client.stream("GET", url, headers=headers) as response:
                self._check(response, platform)
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit():
                    self._refuse_size(int(declared))
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > self.max_bytes:  # a missing or false Content-Length: stop reading at the limit
                        self._refuse_size(size)
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.HTTPError as exc:
            raise MediaUnavailable(f"{platform}: {type(exc).__name__}") from None

    @staticmethod
    def _check(response: httpx.Response, platform: str) -> None:
        status = response.status_code
        # a token refused (401/403) is the city's to fix: tried again, like a platform that is down
        if status in (401, 403, 429) or status >= 500:
            raise MediaUnavailable(f"{platform}: HTTP {status}")
        if status >= 400:  # unknown or expired media (WhatsApp keeps it 30 days)
            raise MediaRefused(f"{platform} did not give the media (HTTP {status})")
