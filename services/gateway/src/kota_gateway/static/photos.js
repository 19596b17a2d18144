"use strict";
// Photos of a report: each picked photo is uploaded at once to /api/v1/photos (the gateway checks it, removes its
// GPS position and camera data, and answers its URL), shown as a thumbnail that can be removed again, and sent with
// the report in media_urls. The tracking page shows a report's photos. Loaded after app.js (I18N, t, el, $, api).
(function () {
  const MAX = 3;
  Object.assign(I18N.id, {
    "report.photo_hint": "Lokasi GPS dan data kamera dihapus dari foto sebelum disimpan.",
    "photo.uploading": "Mengunggah foto…", "photo.remove": "Hapus foto", "photo.too_many": "Paling banyak 3 foto.",
    "photo.failed": "Foto {name} tidak diterima: {msg}", "track.photos": "Foto",
  });
  Object.assign(I18N.en, {
    "report.photo_hint": "GPS position and camera data are removed from photos before they are kept.",
    "photo.uploading": "Uploading photo…", "photo.remove": "Remove photo", "photo.too_many": "At most 3 photos.",
    "photo.failed": "Photo {name} was not accepted: {msg}", "track.photos": "Photos",
  });

  let kept = [];  // {url, thumbnail_url}
  let uploading = 0;

  function render() {
    $("f-photo-list").replaceChildren(...kept.map((p, i) => {
      const remove = el("button", { type: "button", class: "secondary remove", "aria-label": t("photo.remove"), text: "×" });
      remove.addEventListener("click", () => { kept.splice(i, 1); render(); });
      return el("figure", { class: "photo", "data-url": p.url }, el("img", { src: p.thumbnail_url, alt: "" }), remove);
    }));
    $("f-photos").disabled = kept.length >= MAX;
    $("f-submit").disabled = uploading > 0;
  }

  async function upload(file) {
    const form = new FormData();
    form.append("photo", file, file.name);
    const res = await api("/api/v1/photos", { method: "POST", body: form });
    kept.push({ url: res.url, thumbnail_url: res.thumbnail_url });
  }

  async function onPick() {
    const files = Array.from($("f-photos").files || []);
    $("f-photos").value = "";
    if (kept.length + files.length > MAX) flash(t("photo.too_many"), "error");
    const chosen = files.slice(0, Math.max(0, MAX - kept.length));
    if (!chosen.length) return;
    uploading += 1; render(); flash(t("photo.uploading"));
    const failures = [];
    for (const file of chosen) {
      try { await upload(file); } catch (e) { failures.push(t("photo.failed", { name: file.name, msg: e.message })); }
    }
    uploading -= 1; render();
    flash(failures.join(" "), failures.length ? "error" : undefined);
  }

  function thumbnailOf(url) {
    const m = /^(.*\/media\/photos\/[0-9a-f]{64})\.(jpg|png|webp)$/.exec(url);
    return m ? m[1] + ".thumb.jpg" : null;
  }

  window.ReportPhotos = {
    urls: () => kept.map((p) => p.url),
    reset: () => { kept = []; render(); },
    // a complaint's photos on the tracking page: our own as thumbnails linking to the photo, others as links
    show: (target, urls) => {
      target.replaceChildren(...(urls || []).map((url) => {
        const thumb = thumbnailOf(url);
        return el("a", { href: url, target: "_blank", rel: "noopener" },
          thumb ? el("img", { src: thumb, alt: t("track.photos") }) : url);
      }));
      target.hidden = !(urls && urls.length);
    },
  };

  document.addEventListener("DOMContentLoaded", () => {
    $("f-photos").addEventListener("change", onPick);
    render();
  });
})();
