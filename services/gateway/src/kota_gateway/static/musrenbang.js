/* Kota portal: e-Musrenbang pages, in Bahasa Indonesia (default) or English as app.js's language switch says.
   Uses app.js's helpers ($, el, api, flash, fmtTime) and its `lang`; English texts are in musrenbang-i18n.js,
   keyed by the Indonesian ones (tr() here; the page's static texts are swapped by relabel()).
   Views under #/musrenbang: the list and map, a proposal (/usulan/{id}), the submission form (/ajukan), staff
   verification, merging duplicates and recording realisation milestones (/petugas) and the kecamatan forum's
   selection with its field minimums and agency ceilings, result and minutes (/forum/{kecamatan}).
   A resident's NIK stays in this page's memory only: never in storage, a URL or a log. */
"use strict";

window.Musrenbang = (function () {
  const API = "/api/v1/musrenbang";
  const STATUS = { draft: "Draf", submitted: "Diajukan", verified: "Terverifikasi", rejected: "Ditolak",
    prioritised: "Diprioritaskan", accepted: "Masuk RKPD", in_realisation: "Dalam pelaksanaan", done: "Selesai",
    not_realised: "Tidak terealisasi", merged: "Digabung" };
  const STATUS_COLORS = { submitted: "#1f6f8b", verified: "#0b4f8a", prioritised: "#7b4fa0", accepted: "#2e9e44",
    in_realisation: "#e6b000", done: "#14501f", rejected: "#d2342b", not_realised: "#d2342b", merged: "#777", draft: "#999" };
  const LEVEL = { rw: "Rembuk RW", kelurahan: "Musrenbang Kelurahan", kecamatan: "Musrenbang Kecamatan", kota: "Musrenbang Kota",
    provinsi: "Musrenbang Provinsi" };
  const CRITERIA = { urgency: "Urgensi", beneficiaries: "Penerima manfaat", alignment: "Keselarasan dengan prioritas",
    evidence: "Bukti dari kota", supports: "Dukungan warga" };
  const FIELDS = { infrastruktur: "Infrastruktur", sosial_budaya: "Sosial budaya", ekonomi: "Ekonomi" };
  const locale = () => (lang === "en" ? "en-GB" : "id-ID");
  const rupiah = (n) => new Intl.NumberFormat(locale(), { style: "currency", currency: "IDR", maximumFractionDigits: 0 }).format(n || 0);
  const number = (n) => new Intl.NumberFormat(locale()).format(n || 0);
  /* The text in the portal's language: `s` is the Indonesian text, also the key of its English version. */
  function tr(s, vars) {
    let out = (lang === "en" && window.MusrenbangEN && window.MusrenbangEN[s]) || s;
    for (const [k, v] of Object.entries(vars || {})) out = out.split("{" + k + "}").join(String(v));
    return out;
  }
  const label = (table, key) => (table[key] ? tr(table[key]) : key);

  let areas = null, activities = null, map = null, markers = null, follow = null, shown = null, nextToken = "", residentNik = "";

  async function reference() {
    if (!areas) [areas, activities] = await Promise.all([api("/api/v1/areas"), api(API + "/activities")]);
  }
  function choose(select, items, label, keep) {
    const value = keep ? select.value : "";
    select.replaceChildren(el("option", { value: "", text: tr("— pilih —") }), ...items.map((i) => el("option", { value: i.code, text: label ? label(i) : i.name })));
    if (value) select.value = value;
  }
  function kecamatanList() { return areas.flatMap((k) => k.kecamatan.map((kc) => Object.assign({ kota: k.name }, kc))); }
  function areaPickers(kota, kecamatan, kelurahan) {
    choose(kota, areas);
    kota.addEventListener("change", () => {
      const k = areas.find((x) => x.code === kota.value);
      choose(kecamatan, k ? k.kecamatan : []);
      if (kelurahan) choose(kelurahan, []);
    });
    if (kelurahan) kecamatan.addEventListener("change", () => {
      const k = areas.find((x) => x.code === kota.value);
      const kc = k && k.kecamatan.find((x) => x.code === kecamatan.value);
      choose(kelurahan, kc ? kc.kelurahan : []);
    });
  }
  function badge(status) { return el("span", { class: "badge s-" + status, "data-status": status, text: label(STATUS, status) }); }
  function where(loc) { return [loc.rw ? "RW " + loc.rw : "", loc.address, loc.kelurahan, loc.kecamatan].filter((x) => x).join(", "); }
  function failed(e) { flash(tr("Terjadi kesalahan: {msg}", { msg: e.message }), "error"); }

  async function loadCycle() {
    try {
      const c = await api(API + "/cycle");
      const open = c.stages.filter((s) => s.open_now).map((s) => (lang === "en" && LEVEL[s.level] ? tr(LEVEL[s.level]) : s.name));
      $("mb-cycle").textContent = tr("Siklus {year} · tahap berjalan: {open} · setiap warga dapat memberi {n} dukungan",
        { year: c.year, open: open.join(", ") || tr("tidak ada"), n: c.support_limit });
    } catch (e) { $("mb-cycle").textContent = tr("Layanan Musrenbang belum tersedia."); }
  }

  // -- list and map ------------------------------------------------------------------------------------------
  function ensureMap() {
    if (map || !window.L) return;
    map = L.map("mb-map", { scrollWheelZoom: false }).setView([-6.2, 106.83], 11);
    // Tiles need the internet; without it the map still shows the proposals' points on a plain background.
    L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", { maxZoom: 19, attribution: "© OpenStreetMap" }).addTo(map);
    markers = L.layerGroup().addTo(map);
  }
  async function loadList(more) {
    const params = new URLSearchParams({ page_size: "50", order_by: $("mb-filter-order").value });
    if ($("mb-filter-kecamatan").value) params.set("kecamatan_code", $("mb-filter-kecamatan").value);
    if ($("mb-filter-status").value) params.set("status", $("mb-filter-status").value);
    if ($("mb-q").value.trim()) params.set("q", $("mb-q").value.trim());
    if (more && nextToken) params.set("page_token", nextToken);
    try {
      const page = await api(API + "/proposals?" + params);
      nextToken = page.next_page_token;
      $("mb-more").hidden = !nextToken;
      $("mb-count").textContent = tr("{n} usulan", { n: number(page.total) });
      const items = page.proposals.map((p) => el("li", { "data-id": p.id },
        el("div", {}, el("a", { href: "#/musrenbang/usulan/" + p.id, text: p.title }), " ", badge(p.status),
          el("div", { class: "meta", text: p.activity.name + " · " + rupiah(p.cost) + " · " + where(p.location) })),
        el("div", { class: "count" }, el("span", { class: "mb-count", text: String(p.support_count) }), " " + tr("dukungan"))));
      if (more) $("mb-list").append(...items); else $("mb-list").replaceChildren(...items);
      ensureMap();
      if (!map) return;
      if (!more) markers.clearLayers();
      const points = [];
      for (const p of page.proposals) {
        if (p.location.lat == null) continue;
        points.push([p.location.lat, p.location.lon]);
        L.circleMarker([p.location.lat, p.location.lon], { radius: 7 + Math.min(8, p.support_count), color: STATUS_COLORS[p.status] || "#1f6f8b", fillOpacity: 0.7 })
          .bindPopup("<a href='#/musrenbang/usulan/" + encodeURIComponent(p.id) + "'></a>").on("popupopen", (ev) => {
            ev.popup.getElement().querySelector("a").textContent = p.title + " (" + p.support_count + " " + tr("dukungan") + ")";
          }).addTo(markers);
      }
      map.invalidateSize();
      if (points.length && !more) map.fitBounds(points, { maxZoom: 15, padding: [30, 30] });
    } catch (e) { failed(e); }
  }

  // -- a proposal --------------------------------------------------------------------------------------------
  function render(p) {
    shown = p;
    $("mb-d-title").textContent = p.title;
    $("mb-d-activity").textContent = p.activity.name + " · " + label(FIELDS, p.activity.field);
    const b = $("mb-d-status"); b.textContent = label(STATUS, p.status); b.className = "badge s-" + p.status; b.dataset.status = p.status;
    $("mb-d-problem").textContent = p.problem;
    $("mb-d-id").textContent = p.id;
    $("mb-d-location").textContent = where(p.location) || "–";
    $("mb-d-volume").textContent = number(p.volume) + " " + p.activity.unit + " × " + rupiah(p.activity.unit_cost);
    $("mb-d-cost").textContent = rupiah(p.cost);
    $("mb-d-agency").textContent = p.activity.agency_code;
    $("mb-d-level").textContent = p.level ? label(LEVEL, p.level) : "–";
    $("mb-d-supports").textContent = String(p.support_count);
    $("mb-d-progress").value = p.progress_percent; $("mb-d-progress-text").textContent = p.progress_percent + "%";
    const ev = p.evidence.summaries.length ? p.evidence.summaries : [tr("Belum ada laporan atau peringatan di sekitar lokasi ini dalam 12 bulan terakhir.")];
    $("mb-d-evidence").replaceChildren(...ev.map((s) => el("li", { text: s })));
    if (p.score) {
      $("mb-d-score-total").textContent = tr("Skor total {n}", { n: p.score.total.toFixed(2) });
      $("mb-d-score").replaceChildren(el("tr", {}, ...["Kriteria", "Nilai (1-5)", "Bobot", "Kontribusi", "Penjelasan"].map((h) => el("th", { text: tr(h) }))),
        ...p.score.parts.map((s) => el("tr", {}, el("td", { text: label(CRITERIA, s.criterion) }), el("td", { text: String(s.points) }),
          el("td", { text: s.weight.toFixed(2) }), el("td", { text: s.contribution.toFixed(2) }), el("td", { text: s.explanation }))));
    } else {
      $("mb-d-score-total").textContent = tr("Belum dinilai: tim kecamatan menilai usulan yang sudah diverifikasi.");
      $("mb-d-score").replaceChildren();
    }
    $("mb-d-history").replaceChildren(...p.history.slice().reverse().map((h) => el("li", { class: "s-" + h.status },
      el("time", { text: fmtTime(h.at) }), el("strong", { text: " " + label(STATUS, h.status) }),
      el("span", { text: " — " + h.actor + (h.reason ? ": " + h.reason : "") }))));
    $("mb-d-milestones").replaceChildren(...(p.milestones.length ? p.milestones.map((m) => el("li", {},
      el("time", { text: fmtTime(m.at) }), el("strong", { text: " " + m.title + " (" + m.progress_percent + "%)" }),
      m.note ? el("span", { text: " — " + m.note }) : "", m.photo_url ? el("a", { href: m.photo_url, target: "_blank", rel: "noopener", text: " " + tr("foto") }) : ""))
      : [el("li", { class: "muted", text: tr("Belum ada catatan pelaksanaan.") })]));
  }
  function following(id) { try { return JSON.parse(localStorage.getItem("kota.mb.follow") || "[]").includes(id); } catch (e) { return false; } }
  function remember(id, on) {
    let ids = [];
    try { ids = JSON.parse(localStorage.getItem("kota.mb.follow") || "[]"); } catch (e) { ids = []; }
    ids = ids.filter((x) => x !== id); if (on) ids.push(id);
    try { localStorage.setItem("kota.mb.follow", JSON.stringify(ids.slice(-50))); } catch (e) { /* private mode */ }
  }
  function stopFollowing() {
    if (follow) { follow.close(); follow = null; }
    $("mb-live").className = "dot";
    $("mb-follow").textContent = tr("Ikuti usulan ini");
    $("mb-live-text").textContent = tr("Ikuti untuk melihat setiap perubahan secara langsung.");
  }
  function startFollowing(id) {
    stopFollowing();
    follow = new EventSource(API + "/proposals/" + encodeURIComponent(id) + "/events");
    follow.addEventListener("proposal", (ev) => {
      const data = JSON.parse(ev.data);
      if (shown && data.proposal.id !== shown.id) return;
      render(data.proposal);
      $("mb-live").className = "dot on";
      if (data.change !== "snapshot") $("mb-live-text").textContent = tr("Diperbarui {t}", { t: new Date().toLocaleTimeString(locale()) });
    });
    follow.onopen = () => { $("mb-live").className = "dot on"; $("mb-live-text").textContent = tr("Anda mengikuti usulan ini: setiap perubahan tampil langsung."); };
    follow.onerror = () => { $("mb-live").className = "dot"; $("mb-live-text").textContent = tr("Menyambung ulang…"); };
    $("mb-follow").textContent = tr("Berhenti mengikuti");
  }
  async function showProposal(id) {
    stopFollowing(); shown = null;
    try { render(await api(API + "/proposals/" + encodeURIComponent(id))); } catch (e) {
      flash(e.status === 404 ? tr("Usulan tidak ditemukan") : tr("Terjadi kesalahan: {msg}", { msg: e.message }), "error"); return;
    }
    if (residentNik) $("mb-support-nik").value = residentNik;
    $("mb-support-result").textContent = "";
    if (following(id)) startFollowing(id);
  }
  async function supportChange(method) {
    if (!shown) return;
    const nik = $("mb-support-nik").value.replace(/\D/g, "");
    if (nik.length !== 16) { flash(tr("NIK harus 16 angka"), "error"); return; }
    try {
      const r = await api(API + "/proposals/" + encodeURIComponent(shown.id) + "/support", {
        method, headers: { "Content-Type": "application/json" }, body: JSON.stringify({ nik }) });
      residentNik = nik;
      $("mb-d-supports").textContent = String(r.support_count);
      shown.support_count = r.support_count;
      $("mb-support-result").textContent = tr(method === "DELETE" ? "Dukungan ditarik." : r.added ? "Terima kasih, dukungan Anda tercatat." :
        "Anda sudah mendukung usulan ini.") + " " + tr("Sisa dukungan Anda: {n}.", { n: r.supports_left });
      flash("");
    } catch (e) { failed(e); }
  }

  // -- submission --------------------------------------------------------------------------------------------
  let formReady = false;
  function prepareForm() {
    if (formReady) return;
    formReady = true;
    areaPickers($("mb-kota"), $("mb-kecamatan"), $("mb-kelurahan"));
    choose($("mb-activity"), activities, (a) => a.name + " (" + rupiah(a.unit_cost) + " / " + a.unit + ")");
    $("mb-activity").addEventListener("change", showCost);
    $("mb-volume").addEventListener("input", showCost);
    $("mb-kelurahan").addEventListener("change", () => { $("mb-check-result").textContent = ""; });
  }
  function showCost() {
    const a = activities.find((x) => x.code === $("mb-activity").value);
    const volume = parseInt($("mb-volume").value, 10);
    $("mb-unit").value = a ? a.unit : ""; $("mb-unit-cost").value = a ? rupiah(a.unit_cost) : "";
    $("mb-cost").textContent = a && volume > 0 ? rupiah(a.unit_cost * volume) : "–";
  }
  async function checkResident() {
    const nik = $("mb-nik").value.replace(/\D/g, "");
    const out = $("mb-check-result");
    if (!$("mb-kelurahan").value) { out.textContent = tr("Pilih kelurahan terlebih dahulu."); out.className = "error-text"; return false; }
    try {
      const r = await api(API + "/check-resident", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ nik, kelurahan_code: $("mb-kelurahan").value }) });
      out.className = r.eligible ? "ok-text" : "error-text";
      out.dataset.eligible = String(r.eligible);
      out.textContent = r.eligible ? tr("NIK sesuai: Anda dapat mengajukan usulan dan memberi {n} dukungan lagi.", { n: r.supports_left }) : tr("Tidak dapat: {why}", { why: r.reason });
      if (r.eligible) residentNik = nik;
      return r.eligible;
    } catch (e) { out.className = "error-text"; out.dataset.eligible = "false"; out.textContent = tr("Tidak dapat: {why}", { why: e.message }); return false; }
  }
  function usePosition() {
    if (!navigator.geolocation) { $("mb-geo-status").textContent = tr("Posisi tidak tersedia"); return; }
    $("mb-geo-status").textContent = tr("Mencari posisi…");
    navigator.geolocation.getCurrentPosition((pos) => {
      $("mb-lat").value = pos.coords.latitude.toFixed(6); $("mb-lon").value = pos.coords.longitude.toFixed(6);
      $("mb-geo-status").textContent = tr("Posisi: {lat}, {lon}", { lat: $("mb-lat").value, lon: $("mb-lon").value });
    }, () => { $("mb-geo-status").textContent = tr("Posisi tidak tersedia"); }, { timeout: 10000 });
  }
  async function submit(ev) {
    ev.preventDefault();
    if (!(await checkResident())) { flash(tr("Periksa NIK dan kelurahan Anda terlebih dahulu."), "error"); return; }
    const body = { nik: $("mb-nik").value.replace(/\D/g, ""), title: $("mb-title").value.trim(), problem: $("mb-problem").value.trim(),
      activity_code: $("mb-activity").value, volume: parseInt($("mb-volume").value, 10) || 0, kelurahan_code: $("mb-kelurahan").value,
      rw: $("mb-rw").value.trim(), rt: $("mb-rt").value.trim(), address: $("mb-address").value.trim(), photo_url: $("mb-photo").value.trim() };
    if ($("mb-lat").value) { body.lat = parseFloat($("mb-lat").value); body.lon = parseFloat($("mb-lon").value); }
    $("mb-submit").disabled = true; flash(tr("Mengirim…"));
    try {
      const r = await api(API + "/proposals", { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json",
        "Idempotency-Key": crypto.randomUUID ? crypto.randomUUID() : String(Math.random()) } });
      flash("");
      $("mb-form").hidden = true; $("mb-submitted").hidden = false;
      $("mb-s-id").textContent = r.proposal.id; $("mb-s-cost").textContent = rupiah(r.proposal.cost);
      $("mb-s-open").href = "#/musrenbang/usulan/" + r.proposal.id;
      $("mb-similar-box").hidden = !r.similar.length;
      $("mb-similar").replaceChildren(...r.similar.map((s) => el("li", {}, el("a", { href: "#/musrenbang/usulan/" + s.proposal_id, text: s.title }),
        el("span", { class: "muted", text: " — " + tr("kemiripan") + " " + Math.round(s.similarity) + "%" + (s.distance_km != null ? ", " + s.distance_km.toFixed(2) + " km" : "") + (s.reasons.length ? " (" + s.reasons.join("; ") + ")" : "") }))));
    } catch (e) { failed(e); } finally { $("mb-submit").disabled = false; }
  }
  function newSubmission() {
    $("mb-form").reset(); $("mb-form").hidden = false; $("mb-submitted").hidden = true; showCost();
    $("mb-nik").value = residentNik;
  }

  // -- staff -------------------------------------------------------------------------------------------------
  const staffToken = () => sessionStorage.getItem("kota.mb.staff") || "";
  const staffApi = (path, options) => api(path, Object.assign({}, options || {}, {
    headers: Object.assign({ "Authorization": "Bearer " + staffToken(), "Content-Type": "application/json" }, (options || {}).headers || {}) }));
  let staffWho = null;
  function areaFilter(who) {
    const a = who && who.area || "";
    const params = new URLSearchParams();
    if (/^\d{2}\.\d{2}\.\d{2}\.\d{4}/.test(a)) params.set("kelurahan_code", a.slice(0, 13));
    else if (/^\d{2}\.\d{2}\.\d{2}$/.test(a)) params.set("kecamatan_code", a);
    return params;
  }
  function staffSignedIn(on) {
    $("mb-staff-table").hidden = !on; $("mb-staff-logout").hidden = !on;
    $("mb-merge-form").hidden = !on; $("mb-milestone-form").hidden = !on;
  }
  async function loadStaff() {
    if (!staffToken()) { staffWho = null; staffSignedIn(false); $("mb-staff-who").textContent = ""; return; }
    try {
      staffWho = await staffApi(API + "/me");
      $("mb-staff-who").textContent = tr("Masuk sebagai {who} — {roles}", { who: staffWho.subject, roles: staffWho.roles.join(", ") }) +
        (staffWho.area ? " " + tr("(wilayah {area})", { area: staffWho.area }) : "");
      const params = areaFilter(staffWho); params.set("page_size", "100");
      if ($("mb-staff-status").value) params.set("status", $("mb-staff-status").value);
      const page = await api(API + "/proposals?" + params);
      staffSignedIn(true);
      $("mb-staff-rows").replaceChildren(...(page.proposals.length ? page.proposals.map(staffRow) : [el("tr", {}, el("td", { colspan: "5", text: tr("Tidak ada usulan.") }))]));
    } catch (e) { failed(e); if (e.status === 401) sessionStorage.removeItem("kota.mb.staff"); }
  }
  function staffRow(p) {
    const reason = el("input", { class: "mb-reason", placeholder: tr("Alasan (wajib untuk menolak)"), maxlength: "4000" });
    const act = (decision, text, cls) => {
      const b = el("button", { type: "button", class: cls, text: tr(text) });
      b.addEventListener("click", async () => {
        b.disabled = true;
        try {
          const updated = await staffApi(API + "/proposals/" + encodeURIComponent(p.id) + "/review", { method: "POST", body: JSON.stringify({ decision, reason: reason.value.trim() }) });
          flash(tr("Usulan {id} kini {status}", { id: p.id, status: label(STATUS, updated.status) }), "info");
          loadStaff();
        } catch (e) { failed(e); b.disabled = false; }
      });
      return b;
    };
    return el("tr", { "data-id": p.id },
      el("td", {}, el("a", { href: "#/musrenbang/usulan/" + p.id, text: p.title }), el("div", { class: "muted", text: p.id + " · " + p.activity.name })),
      el("td", { text: where(p.location) }), el("td", { text: rupiah(p.cost) }), el("td", {}, badge(p.status)),
      el("td", { class: "actions" }, act("verify", "Verifikasi", "mb-verify"), reason, act("reject", "Tolak", "secondary mb-reject")));
  }
  const field = (text, input) => el("label", {}, el("span", { text }), input);
  /* The merge and milestone forms, under the staff's list; built once, in Indonesian (relabel() translates them). */
  function buildStaffForms() {
    const merge = el("form", { id: "mb-merge-form", class: "card", hidden: "" },
      el("h3", { text: "Gabungkan usulan ganda" }),
      el("p", { class: "muted", text: "Usulan ganda dilipat ke usulan yang dipertahankan; dukungan setiap warga dihitung sekali." }),
      el("div", { class: "row3" },
        field("Usulan yang dipertahankan (nomor)", el("input", { id: "mb-merge-target", maxlength: "64", autocomplete: "off" })),
        field("Usulan ganda (nomor)", el("input", { id: "mb-merge-source", maxlength: "64", autocomplete: "off" })),
        field("\u00a0", el("button", { type: "submit", id: "mb-merge", text: "Gabungkan" }))),
      el("p", { id: "mb-merge-result", class: "muted" }));
    const milestone = el("form", { id: "mb-milestone-form", class: "card", hidden: "" },
      el("h3", { text: "Catat capaian pelaksanaan" }),
      el("p", { class: "muted", text: "Untuk usulan yang sedang dikerjakan (dinas pelaksana, Bappeda). Warga yang mengikuti usulan melihatnya langsung." }),
      el("div", { class: "row3" },
        field("Nomor usulan", el("input", { id: "mb-ms-id", maxlength: "64", autocomplete: "off" })),
        field("Capaian", el("input", { id: "mb-ms-title", maxlength: "200", placeholder: "mis. Saluran tergali 60%" })),
        field("Progres (%)", el("input", { id: "mb-ms-progress", type: "number", min: "0", max: "100", step: "1" }))),
      el("div", { class: "row3" },
        field("Tanggal", el("input", { id: "mb-ms-date", type: "date" })),
        field("Tautan foto (opsional)", el("input", { id: "mb-ms-photo", type: "url", maxlength: "1000", placeholder: "https://…" })),
        field("Catatan (opsional)", el("input", { id: "mb-ms-note", maxlength: "4000" }))),
      el("button", { type: "submit", id: "mb-ms-save", text: "Catat capaian" }),
      el("p", { id: "mb-ms-result", class: "muted" }));
    $("mb-staff-view").append(merge, milestone);
    const status = $("mb-staff-status");  // the agencies' work: proposals accepted and being built
    for (const s of ["accepted", "in_realisation"]) status.insertBefore(el("option", { value: s, text: STATUS[s] }), status.querySelector("option[value='']"));
  }
  async function mergeProposals(ev) {
    ev.preventDefault();
    const body = { target_id: $("mb-merge-target").value.trim(), source_id: $("mb-merge-source").value.trim() };
    if (!body.target_id || !body.source_id) { flash(tr("Isi nomor kedua usulan."), "error"); return; }
    $("mb-merge").disabled = true;
    try {
      const target = await staffApi(API + "/merge", { method: "POST", body: JSON.stringify(body) });
      const out = $("mb-merge-result");
      out.dataset.target = target.id;
      out.replaceChildren(tr("Usulan {source} digabung ke", { source: body.source_id }) + " ",
        el("a", { href: "#/musrenbang/usulan/" + target.id, text: target.title }),
        " " + tr("— kini {n} dukungan.", { n: target.support_count }));
      flash(tr("Usulan digabung."), "info");
      $("mb-merge-form").reset();
      loadStaff();
    } catch (e) { failed(e); } finally { $("mb-merge").disabled = false; }
  }
  async function recordMilestone(ev) {
    ev.preventDefault();
    const id = $("mb-ms-id").value.trim();
    if (!id) { flash(tr("Isi nomor usulan."), "error"); return; }
    const body = { title: $("mb-ms-title").value.trim(), progress_percent: parseInt($("mb-ms-progress").value, 10),
      photo_url: $("mb-ms-photo").value.trim(), note: $("mb-ms-note").value.trim() };
    if (Number.isNaN(body.progress_percent)) body.progress_percent = -1;  // answered by the API's validation
    if ($("mb-ms-date").value) body.at = $("mb-ms-date").value + "T12:00:00+07:00";  // midday, Jakarta time
    $("mb-ms-save").disabled = true;
    try {
      const p = await staffApi(API + "/proposals/" + encodeURIComponent(id) + "/milestones", { method: "POST", body: JSON.stringify(body) });
      const out = $("mb-ms-result");
      out.dataset.progress = String(p.progress_percent);
      out.replaceChildren(tr("Capaian tercatat untuk", {}) + " ", el("a", { href: "#/musrenbang/usulan/" + p.id, text: p.title }),
        ": " + tr("progres kini {n}%.", { n: p.progress_percent }));
      flash(tr("Capaian tercatat."), "info");
    } catch (e) { failed(e); } finally { $("mb-ms-save").disabled = false; }
  }

  // -- the forum's selection ---------------------------------------------------------------------------------
  let forumReady = false;
  function prepareForum() {
    if (forumReady) return;
    forumReady = true;
    areaPickers($("mb-f-kota"), $("mb-f-kecamatan"), null);
  }
  /* Field minimums and agency ceilings for the run form; built once, in Indonesian (relabel() translates them). */
  function buildRunForm() {
    const form = $("mb-run-form");
    const submit = $("mb-run").closest("label");
    const minimums = el("fieldset", { id: "mb-run-minimums" }, el("legend", { text: "Minimum per bidang (Rp, opsional)" }),
      el("div", { class: "row3" }, ...Object.keys(FIELDS).map((f) => field(FIELDS[f],
        el("input", { id: "mb-run-min-" + f, class: "mb-run-min", "data-field": f, type: "number", min: "0", step: "1" })))));
    const ceilings = el("fieldset", { id: "mb-run-ceilings" }, el("legend", { text: "Batas per dinas (Rp, opsional)" }),
      el("div", { id: "mb-ceiling-rows" }),
      el("button", { type: "button", id: "mb-run-add-ceiling", class: "secondary", text: "Tambah batas dinas" }));
    form.append(minimums, ceilings, el("div", { class: "inline" }, submit.querySelector("button")));
    submit.remove();
  }
  function addCeiling() {
    const remove = el("button", { type: "button", class: "secondary mb-ceiling-remove", text: tr("Hapus") });
    const row = el("div", { class: "inline mb-ceiling" },
      field(tr("Dinas"), el("select", { class: "mb-ceiling-agency" }, el("option", { value: "", text: tr("— pilih —") }),
        ...[...new Set(activities.map((a) => a.agency_code))].sort().map((code) => el("option", { value: code, text: code })))),
      field(tr("Paling banyak (Rp)"), el("input", { class: "mb-ceiling-amount", type: "number", min: "0", step: "1" })), remove);
    remove.addEventListener("click", () => row.remove());
    $("mb-ceiling-rows").append(row);
    return row;
  }
  async function showForum(kecamatan) {
    prepareForum();
    if (kecamatan) {
      const k = kecamatanList().find((x) => x.code === kecamatan);
      if (k && $("mb-f-kota").value !== kecamatan.slice(0, 5)) {
        $("mb-f-kota").value = kecamatan.slice(0, 5); $("mb-f-kota").dispatchEvent(new Event("change"));
      }
      $("mb-f-kecamatan").value = kecamatan;
    }
    $("mb-run-form").hidden = !(staffToken() && kecamatan);  // the forum's staff may run it again
    $("mb-f-result").hidden = true; $("mb-f-empty").hidden = true;
    if (!kecamatan) return;
    try {
      const s = await api(API + "/selections/" + encodeURIComponent(kecamatan));
      $("mb-f-result").hidden = false;
      $("mb-f-title").textContent = tr("Forum Musrenbang Kecamatan {name} {year}", { name: s.kecamatan, year: s.cycle_year });
      const chosen = s.decisions.filter((d) => d.selected).length;
      $("mb-f-summary").textContent = tr("{chosen} dari {n} usulan terpilih · biaya {cost} dari pagu {budget} · skor total {score} (cara serakah: {greedy})", {
        chosen, n: s.decisions.length, cost: rupiah(s.total_cost), budget: rupiah(s.budget), score: s.total_score.toFixed(2),
        greedy: s.greedy_total_score.toFixed(2) }) + " · " + (s.status === "optimal" ? tr("terbukti optimal") : s.status) + " · " +
        tr("{n} peserta", { n: number(s.attendees) }) + " · " + tr("ditetapkan {t}", { t: fmtTime(s.decided_at) });
      const limits = [
        ...Object.entries(s.field_minimums).map(([f, v]) => tr("minimum {field}: {amount}", { field: label(FIELDS, f), amount: rupiah(v) })),
        ...Object.entries(s.agency_ceilings).map(([a, v]) => tr("batas {agency}: {amount}", { agency: a, amount: rupiah(v) }))];
      $("mb-f-limits").textContent = limits.length ? tr("Ketentuan forum") + ": " + limits.join(" · ") : "";
      $("mb-f-limits").hidden = !limits.length;
      $("mb-f-pdf").href = s.minutes_url;
      $("mb-f-rows").replaceChildren(...s.decisions.map((d) => el("tr", { "data-id": d.proposal_id, class: d.selected ? "selected" : "not-selected" },
        el("td", {}, el("a", { href: "#/musrenbang/usulan/" + d.proposal_id, text: d.title })), el("td", { text: rupiah(d.cost) }),
        el("td", { text: d.score.toFixed(2) }), el("td", { text: tr(d.selected ? "Terpilih" : "Tidak terpilih") }), el("td", { class: "reason", text: d.reason }))));
    } catch (e) {
      $("mb-f-empty").hidden = false;
      $("mb-f-empty").textContent = e.status === 404 ? tr("Forum kecamatan ini belum menetapkan pilihannya.") : tr("Terjadi kesalahan: {msg}", { msg: e.message });
    }
  }
  async function runSelection(ev) {
    ev.preventDefault();
    const kecamatan = $("mb-f-kecamatan").value;
    const amount = (input) => (input.value === "" ? null : parseInt(input.value, 10));
    const field_minimums = {}, agency_ceilings = {};
    document.querySelectorAll("#mb-run-form .mb-run-min").forEach((i) => { if (amount(i) !== null) field_minimums[i.dataset.field] = amount(i); });
    document.querySelectorAll("#mb-ceiling-rows .mb-ceiling").forEach((row) => {
      const agency = row.querySelector(".mb-ceiling-agency").value.trim(), value = amount(row.querySelector(".mb-ceiling-amount"));
      if (agency && value !== null) agency_ceilings[agency] = value;
    });
    $("mb-run").disabled = true;
    try {
      await staffApi(API + "/selections", { method: "POST", body: JSON.stringify({ kecamatan_code: kecamatan,
        budget: parseInt($("mb-run-budget").value, 10) || 0, attendees: parseInt($("mb-run-attendees").value, 10) || 0,
        field_minimums, agency_ceilings }) });
      flash(tr("Pilihan forum ditetapkan."), "info");
      await showForum(kecamatan);
    } catch (e) { failed(e); } finally { $("mb-run").disabled = false; }
  }

  // -- language ----------------------------------------------------------------------------------------------
  let statics = null;  // [node, its Indonesian text] for the page's fixed texts and placeholders
  function collectStatics() {
    if (statics) return;
    buildStaffForms(); buildRunForm();
    const f = document.createElement("p"); f.id = "mb-f-limits"; f.className = "muted"; f.hidden = true;
    $("mb-f-summary").after(f);
    statics = [];
    const walker = document.createTreeWalker($("page-musrenbang"), NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) if (n.nodeValue.trim()) statics.push([n, n.nodeValue]);
    $("page-musrenbang").querySelectorAll("[placeholder]").forEach((e) => statics.push([e, e.getAttribute("placeholder")]));
  }
  /* The page's fixed texts in the portal's language (app.js's applyI18n calls this on a switch), then the view
     again so that what it rendered follows. */
  function relabel() {
    collectStatics();
    $("page-musrenbang").lang = lang;
    for (const [node, text] of statics) {
      const key = text.replace(/\s+/g, " ").trim();
      const shown = lang === "en" && window.MusrenbangEN && window.MusrenbangEN[key] ? text.replace(text.trim(), window.MusrenbangEN[key]) : text;
      if (node.nodeType === Node.TEXT_NODE) node.nodeValue = shown; else node.setAttribute("placeholder", shown);
    }
    if (lastParts && !$("page-musrenbang").hidden) show(lastParts);
  }

  // -- views -------------------------------------------------------------------------------------------------
  let wired = false, lastParts = null;
  function wire() {
    if (wired) return;
    wired = true;
    collectStatics();
    choose($("mb-filter-kecamatan"), kecamatanList(), (k) => k.name + " (" + k.kota + ")");
    $("mb-filter").addEventListener("submit", (ev) => { ev.preventDefault(); loadList(false); });
    $("mb-more").addEventListener("click", () => loadList(true));
    $("mb-follow").addEventListener("click", () => {
      if (!shown) return;
      if (follow) { stopFollowing(); remember(shown.id, false); } else { remember(shown.id, true); startFollowing(shown.id); }
    });
    $("mb-support-form").addEventListener("submit", (ev) => { ev.preventDefault(); supportChange("POST"); });
    $("mb-withdraw").addEventListener("click", () => supportChange("DELETE"));
    $("mb-check").addEventListener("click", checkResident);
    $("mb-geo").addEventListener("click", usePosition);
    $("mb-form").addEventListener("submit", submit);
    $("mb-s-again").addEventListener("click", newSubmission);
    $("mb-staff-login").addEventListener("submit", (ev) => { ev.preventDefault(); sessionStorage.setItem("kota.mb.staff", $("mb-staff-token").value.trim()); $("mb-staff-token").value = ""; loadStaff(); });
    $("mb-staff-logout").addEventListener("click", () => { sessionStorage.removeItem("kota.mb.staff"); loadStaff(); });
    $("mb-staff-refresh").addEventListener("click", loadStaff);
    $("mb-staff-status").addEventListener("change", loadStaff);
    $("mb-merge-form").addEventListener("submit", mergeProposals);
    $("mb-milestone-form").addEventListener("submit", recordMilestone);
    $("mb-forum-form").addEventListener("submit", (ev) => { ev.preventDefault(); if ($("mb-f-kecamatan").value) location.hash = "#/musrenbang/forum/" + $("mb-f-kecamatan").value; });
    $("mb-run-form").addEventListener("submit", runSelection);
    $("mb-run-add-ceiling").addEventListener("click", addCeiling);
  }
  async function show(parts) {
    lastParts = parts;
    try { await reference(); } catch (e) { flash(tr("Layanan Musrenbang belum tersedia: {msg}", { msg: e.message }), "error"); return; }
    wire();
    loadCycle();
    const view = { usulan: "detail", ajukan: "submit", petugas: "staff", forum: "forum" }[parts[0]] || "list";
    document.querySelectorAll("#page-musrenbang .mb-view").forEach((v) => { v.hidden = v.id !== "mb-" + view + "-view"; });
    document.querySelectorAll("#mb-subnav a").forEach((a) => a.classList.toggle("active",
      a.dataset.view === ({ list: "list", detail: "list", submit: "ajukan", staff: "petugas", forum: "forum" })[view]));
    if (view !== "detail") stopFollowing();
    if (view === "list") loadList(false);
    if (view === "detail") showProposal(decodeURIComponent(parts[1] || ""));
    if (view === "submit") { prepareForm(); showCost(); }
    if (view === "staff") loadStaff();
    if (view === "forum") showForum(decodeURIComponent(parts[1] || ""));
  }
  function leave() { if (follow) stopFollowing(); }
  return { show, leave, relabel };
})();
