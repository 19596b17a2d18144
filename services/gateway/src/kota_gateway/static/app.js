/* Kota citizen portal: plain JavaScript, no build step, no CDN. Bahasa Indonesia by default, English switch. */
"use strict";

const I18N = {
  id: {
    "nav.report": "Lapor", "nav.track": "Lacak", "nav.dashboard": "Dasbor", "nav.data": "Data Terbuka", "nav.staff": "Petugas", "nav.musrenbang": "Musrenbang",
    "nav.collab": "Kerja sama kota",
    "report.title": "Laporkan masalah di kota Anda",
    "report.lead": "Laporan diteruskan otomatis ke dinas yang berwenang. Anda bisa melapor tanpa nama.",
    "report.category": "Kategori", "report.description": "Uraian", "report.description_ph": "Apa yang terjadi, sejak kapan, seberapa parah?",
    "report.location": "Lokasi", "report.address": "Alamat / patokan", "report.use_position": "Gunakan posisi saya",
    "report.photo": "Foto (opsional, paling banyak 3: JPEG, PNG atau WebP)", "report.contact": "Kontak (opsional)", "report.anonymous": "Lapor tanpa nama (anonim)",
    "report.first_name": "Nama depan", "report.last_name": "Nama belakang", "report.email": "Surel", "report.phone": "Telepon",
    "report.notify": "Kabari perkembangannya lewat", "report.notify_none": "Tidak usah",
    "report.submit": "Kirim laporan", "report.thanks": "Terima kasih, laporan Anda diterima", "report.number": "Nomor laporan",
    "report.secret": "Kode rahasia (untuk menilai atau membuka kembali; simpan baik-baik)", "report.track_it": "Lacak laporan ini",
    "report.routed": "Diteruskan ke {agency} ({unit}).", "report.sending": "Mengirim…",
    "area.kota": "Kota", "area.kecamatan": "Kecamatan", "area.kelurahan": "Kelurahan", "area.choose": "— pilih —",
    "geo.asking": "Mencari posisi…", "geo.ok": "Posisi: {lat}, {lon}", "geo.fail": "Posisi tidak tersedia",
    "track.title": "Lacak laporan", "track.number": "Nomor laporan", "track.go": "Lacak", "track.agency": "Dinas", "track.unit": "Unit",
    "track.location": "Lokasi", "track.due": "Target selesai", "track.live": "Pembaruan langsung", "track.offline": "Menyambung ulang…",
    "track.history": "Riwayat", "track.notfound": "Laporan tidak ditemukan",
    "track.feedback": "Bagaimana penyelesaiannya?", "track.secret": "Kode rahasia", "track.rating": "Nilai", "track.rate": "Beri nilai",
    "track.reason": "Alasan membuka kembali", "track.reopen": "Buka kembali", "track.rated": "Terima kasih atas penilaian Anda.",
    "track.reopened": "Laporan dibuka kembali.",
    "status.received": "Diterima", "status.routed": "Diteruskan", "status.in_progress": "Dikerjakan", "status.resolved": "Selesai",
    "status.rejected": "Ditolak", "status.closed": "Ditutup",
    "dash.title": "Dasbor kota", "dash.total": "Laporan", "dash.open": "Belum selesai", "dash.sla": "Melewati SLA",
    "dash.median": "Median penyelesaian (jam)", "dash.air": "Kualitas udara (ISPU) per stasiun", "dash.flood": "Tinggi muka air pintu air",
    "dash.by_category": "Laporan per kategori", "dash.by_kota": "Laporan per kota", "dash.per_day": "Laporan per hari (14 hari)",
    "dash.resolution": "Waktu penyelesaian per kategori (jam, median)", "dash.no_sensors": "Data sensor belum tersedia.",
    "dash.siaga": "Siaga {n}", "dash.reports": "laporan",
    "data.title": "Katalog data terbuka", "data.search": "Cari dataset…", "data.go": "Cari", "data.count": "{n} dataset",
    "data.unavailable": "Katalog data belum tersedia.", "data.download": "Unduh",
    "staff.title": "Kotak masuk petugas", "staff.token": "Token petugas (kota token --agency …)", "staff.login": "Masuk",
    "staff.logout": "Keluar", "staff.filter": "Status", "staff.all": "Semua", "staff.open_only": "Belum selesai",
    "staff.refresh": "Muat ulang", "staff.number": "Nomor", "staff.category": "Kategori", "staff.location": "Lokasi",
    "staff.status": "Status", "staff.action": "Tindakan", "staff.note": "Catatan", "staff.save": "Simpan", "staff.who": "Masuk sebagai {sub} — {agency}",
    "staff.saved": "Status laporan {id} menjadi {status}", "staff.empty": "Tidak ada laporan.", "staff.move_to": "Ubah ke…",
    "footer.text": "Kota — platform kota cerdas terbuka.", "error.generic": "Terjadi kesalahan: {msg}",
  },
  en: {
    "nav.report": "Report", "nav.track": "Track", "nav.dashboard": "Dashboard", "nav.data": "Open data", "nav.staff": "Staff", "nav.musrenbang": "Musrenbang",
    "nav.collab": "City partners",
    "report.title": "Report a problem in your city",
    "report.lead": "Reports go straight to the responsible agency. You can report anonymously.",
    "report.category": "Category", "report.description": "Description", "report.description_ph": "What happened, since when, how bad?",
    "report.location": "Location", "report.address": "Address / landmark", "report.use_position": "Use my position",
    "report.photo": "Photos (optional, at most 3: JPEG, PNG or WebP)", "report.contact": "Contact (optional)", "report.anonymous": "Report anonymously",
    "report.first_name": "First name", "report.last_name": "Last name", "report.email": "E-mail", "report.phone": "Phone",
    "report.notify": "Tell me how it goes by", "report.notify_none": "No, thanks",
    "report.submit": "Send report", "report.thanks": "Thank you, your report was received", "report.number": "Report number",
    "report.secret": "Secret code (to rate or reopen; keep it safe)", "report.track_it": "Track this report",
    "report.routed": "Routed to {agency} ({unit}).", "report.sending": "Sending…",
    "area.kota": "City", "area.kecamatan": "District", "area.kelurahan": "Sub-district", "area.choose": "— choose —",
    "geo.asking": "Finding position…", "geo.ok": "Position: {lat}, {lon}", "geo.fail": "Position unavailable",
    "track.title": "Track a report", "track.number": "Report number", "track.go": "Track", "track.agency": "Agency", "track.unit": "Unit",
    "track.location": "Location", "track.due": "Due", "track.live": "Live updates", "track.offline": "Reconnecting…",
    "track.history": "History", "track.notfound": "Report not found",
    "track.feedback": "How was it resolved?", "track.secret": "Secret code", "track.rating": "Rating", "track.rate": "Rate",
    "track.reason": "Why reopen it", "track.reopen": "Reopen", "track.rated": "Thank you for your rating.",
    "track.reopened": "The report was reopened.",
    "status.received": "Received", "status.routed": "Routed", "status.in_progress": "In progress", "status.resolved": "Resolved",
    "status.rejected": "Rejected", "status.closed": "Closed",
    "dash.title": "City dashboard", "dash.total": "Reports", "dash.open": "Open", "dash.sla": "Past SLA",
    "dash.median": "Median resolution (hours)", "dash.air": "Air quality (ISPU) by station", "dash.flood": "Water level at flood gauges",
    "dash.by_category": "Reports by category", "dash.by_kota": "Reports by city", "dash.per_day": "Reports per day (14 days)",
    "dash.resolution": "Resolution time by category (hours, median)", "dash.no_sensors": "Sensor data not available yet.",
    "dash.siaga": "Alert {n}", "dash.reports": "reports",
    "data.title": "Open data catalogue", "data.search": "Search datasets…", "data.go": "Search", "data.count": "{n} datasets",
    "data.unavailable": "The data catalogue is not available yet.", "data.download": "Download",
    "staff.title": "Staff inbox", "staff.token": "Staff token (kota token --agency …)", "staff.login": "Sign in",
    "staff.logout": "Sign out", "staff.filter": "Status", "staff.all": "All", "staff.open_only": "Open",
    "staff.refresh": "Reload", "staff.number": "Number", "staff.category": "Category", "staff.location": "Location",
    "staff.status": "Status", "staff.action": "Action", "staff.note": "Note", "staff.save": "Save", "staff.who": "Signed in as {sub} — {agency}",
    "staff.saved": "Report {id} is now {status}", "staff.empty": "No reports.", "staff.move_to": "Move to…",
    "footer.text": "Kota — an open smart-city platform.", "error.generic": "Something went wrong: {msg}",
  },
};
const NEXT = { received: ["routed", "rejected"], routed: ["in_progress", "resolved", "rejected"], in_progress: ["resolved", "rejected"],
  resolved: ["closed"], rejected: ["closed"], closed: [] };
const ISPU_COLORS = { "Baik": "#2e9e44", "Sedang": "#2f6fd6", "Tidak Sehat": "#e6b000", "Sangat Tidak Sehat": "#d2342b", "Berbahaya": "#1d1d1d" };
const SIAGA_COLORS = { 1: "#d2342b", 2: "#f08c00", 3: "#e6c200", 4: "#2e9e44" };

let lang = localStorage.getItem("kota.lang") || "id";
let areas = [];
let services = [];
let source = null;
let charts = {};
let current = null;

const $ = (id) => document.getElementById(id);
function t(key, vars) {
  let s = (I18N[lang] && I18N[lang][key]) || I18N.id[key] || key;
  for (const [k, v] of Object.entries(vars || {})) s = s.replace("{" + k + "}", v);
  return s;
}
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}
function flash(message, kind) {
  const f = $("flash");
  f.textContent = message || "";
  f.className = message ? (kind || "info") : "";
}
async function api(path, options) {
  const res = await fetch(path, Object.assign({ headers: { "Accept": "application/json" } }, options || {}));
  let body = null;
  try { body = await res.json(); } catch (e) { body = null; }
  if (!res.ok) {
    let msg = res.status + "";
    if (body && body.errors && body.errors.length) msg = body.errors.map((e) => e.field + ": " + e.description).join("; ");
    else if (body && typeof body.detail === "string") msg = body.detail;
    else if (body && Array.isArray(body.detail)) msg = body.detail.map((e) => (e.loc || []).slice(-1)[0] + ": " + e.msg).join("; ");
    else if (body && body.error) msg = body.error.message;
    const err = new Error(msg); err.status = res.status; throw err;
  }
  return body;
}
function fmtTime(iso) {
  if (!iso) return "–";
  return new Date(iso).toLocaleString(lang === "id" ? "id-ID" : "en-GB", { dateStyle: "medium", timeStyle: "short" });
}
function applyI18n() {
  document.documentElement.lang = lang;
  document.querySelectorAll("[data-i18n]").forEach((e) => { e.textContent = t(e.dataset.i18n); });
  document.querySelectorAll("[data-i18n-placeholder]").forEach((e) => { e.placeholder = t(e.dataset.i18nPlaceholder); });
  $("lang-id").setAttribute("aria-pressed", lang === "id"); $("lang-en").setAttribute("aria-pressed", lang === "en");
  if (current) renderComplaint(current);
  if (window.Musrenbang) window.Musrenbang.relabel();
}

// -- report -----------------------------------------------------------------------------------------------
function fillSelect(select, items, label) {
  select.replaceChildren(el("option", { value: "", text: t("area.choose") }), ...items.map((i) => el("option", { value: i.code, text: label ? label(i) : i.name })));
}
async function loadReportForm() {
  if ($("f-category").options.length) return;
  try {
    const [list, tree] = await Promise.all([api("/api/v1/services"), api("/api/v1/areas")]);
    services = list;
    areas = tree;
    fillSelect($("f-category"), services);
    fillSelect($("f-kota"), areas);
  } catch (e) { flash(t("error.generic", { msg: e.message }), "error"); }
}
function onCategory() {
  // the category's own questions (Open311 service attributes), e.g. how deep the water is
  const service = services.find((x) => x.code === $("f-category").value);
  $("f-attributes").replaceChildren(...(service ? service.attributes : []).map((a) => {
    const input = a.values && a.values.length
      ? el("select", { class: "f-attr", "data-code": a.code }, el("option", { value: "", text: t("area.choose") }), ...a.values.map((v) => el("option", { value: v, text: v })))
      : el("input", { class: "f-attr", "data-code": a.code, type: a.datatype === "number" ? "number" : "text", maxlength: "200" });
    if (a.required) input.required = true;
    return el("label", {}, el("span", { text: a.description + (a.required ? " *" : "") }), input);
  }));
}
function onKota() {
  const kota = areas.find((k) => k.code === $("f-kota").value);
  fillSelect($("f-kecamatan"), kota ? kota.kecamatan : []);
  fillSelect($("f-kelurahan"), []);
}
function onKecamatan() {
  const kota = areas.find((k) => k.code === $("f-kota").value);
  const kec = kota && kota.kecamatan.find((k) => k.code === $("f-kecamatan").value);
  fillSelect($("f-kelurahan"), kec ? kec.kelurahan : [], (k) => k.name + (k.postcode ? " (" + k.postcode + ")" : ""));
}
function usePosition() {
  if (!navigator.geolocation) { $("f-geo-status").textContent = t("geo.fail"); return; }
  $("f-geo-status").textContent = t("geo.asking");
  navigator.geolocation.getCurrentPosition((pos) => {
    $("f-lat").value = pos.coords.latitude.toFixed(6); $("f-lon").value = pos.coords.longitude.toFixed(6);
    $("f-geo-status").textContent = t("geo.ok", { lat: $("f-lat").value, lon: $("f-lon").value });
  }, () => { $("f-geo-status").textContent = t("geo.fail"); }, { timeout: 10000 });
}
async function submitReport(ev) {
  ev.preventDefault();
  const anonymous = $("f-anonymous").checked;
  const body = {
    service_code: $("f-category").value, description: $("f-description").value.trim(),
    kelurahan_code: $("f-kelurahan").value, address: $("f-address").value.trim(), anonymous, channel: "web",
    media_urls: window.ReportPhotos ? window.ReportPhotos.urls() : [],  // uploaded as they were picked (photos.js)
  };
  body.attributes = {};
  document.querySelectorAll("#f-attributes .f-attr").forEach((e) => { if (e.value.trim()) body.attributes[e.dataset.code] = e.value.trim(); });
  if ($("f-lat").value) { body.lat = parseFloat($("f-lat").value); body.lon = parseFloat($("f-lon").value); }
  if (!anonymous) {
    const contact = { first_name: $("f-first").value.trim(), last_name: $("f-last").value.trim(), email: $("f-email").value.trim(), phone: $("f-phone").value.trim() };
    if (Object.values(contact).some((v) => v)) body.contact = contact;
    // the contact then also goes to the notifications service, which answers there on every change
    if ($("f-notify").value !== "none") { body.notify_by = $("f-notify").value; body.language = lang; }
  }
  $("f-submit").disabled = true; flash(t("report.sending"));
  try {
    const res = await api("/api/v1/complaints", { method: "POST", headers: { "Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID ? crypto.randomUUID() : String(Math.random()) }, body: JSON.stringify(body) });
    flash("");
    $("report-form").hidden = true; $("report-result").hidden = false;
    $("r-id").textContent = res.id; $("r-code").textContent = res.tracking_code;
    try { localStorage.setItem("kota.code." + res.id, res.tracking_code); } catch (e) { /* private mode */ }
    $("r-routed").textContent = res.complaint.agency_name ? t("report.routed", { agency: res.complaint.agency_name, unit: res.complaint.unit }) : "";
    $("r-track").href = "#/lacak/" + res.id;
    if (window.ReportPhotos) window.ReportPhotos.reset();
  } catch (e) { flash(t("error.generic", { msg: e.message }), "error"); }
  finally { $("f-submit").disabled = false; }
}

// -- track ------------------------------------------------------------------------------------------------
function renderComplaint(c) {
  current = c;
  $("track-card").hidden = false;
  $("t-category").textContent = c.service_name + " · " + c.id;
  $("t-title").textContent = c.description;
  const badge = $("track-status");
  badge.textContent = t("status." + c.status); badge.className = "badge s-" + c.status; badge.dataset.status = c.status;
  $("t-agency").textContent = c.agency_name || "–"; $("t-unit").textContent = c.unit || "–";
  const loc = c.location;
  $("t-location").textContent = [loc.address, loc.kelurahan, loc.kecamatan, loc.kota].filter((x) => x).join(", ") || "–";
  $("t-due").textContent = fmtTime(c.due_at) + (c.sla_breached ? " ⚠" : "");
  if (window.ReportPhotos) window.ReportPhotos.show($("t-photos"), c.media_urls);
  const done = c.status === "resolved" || c.status === "rejected";
  $("t-feedback").hidden = !done;
  if (done && !$("t-code").value) $("t-code").value = localStorage.getItem("kota.code." + c.id) || "";
  $("t-history").replaceChildren(...c.history.slice().reverse().map((h) =>
    el("li", { class: "s-" + h.status }, el("time", { text: fmtTime(h.at) }), el("strong", { text: " " + t("status." + h.status) }), el("span", { text: h.note ? " — " + h.note : "" }))));
}
function track(id) {
  if (source) { source.close(); source = null; }
  current = null; $("track-card").hidden = true;
  if (!id) return;
  $("t-id").value = id;
  api("/api/v1/complaints/" + encodeURIComponent(id)).then(renderComplaint).catch((e) => {
    flash(e.status === 404 ? t("track.notfound") : t("error.generic", { msg: e.message }), "error");
  });
  source = new EventSource("/api/v1/complaints/" + encodeURIComponent(id) + "/events");
  source.addEventListener("complaint", (ev) => {
    const data = JSON.parse(ev.data);
    renderComplaint(data.complaint);
    $("t-live").className = "dot on"; $("t-live-text").textContent = t("track.live");
  });
  source.onopen = () => { $("t-live").className = "dot on"; };
  source.onerror = () => { $("t-live").className = "dot"; $("t-live-text").textContent = t("track.offline"); };
}

async function feedback(kind) {
  if (!current) return;
  const code = $("t-code").value.trim();
  const body = kind === "rating" ? { tracking_code: code, rating: parseInt($("t-rating").value, 10) } : { tracking_code: code, reason: $("t-reason").value.trim() };
  try {
    const c = await api("/api/v1/complaints/" + encodeURIComponent(current.id) + "/" + kind, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    renderComplaint(c);
    flash(t(kind === "rating" ? "track.rated" : "track.reopened"), "info");
  } catch (e) { flash(t("error.generic", { msg: e.message }), "error"); }
}

// -- dashboard --------------------------------------------------------------------------------------------
function chart(id, type, labels, data, opts) {
  if (!window.Chart) return;
  if (charts[id]) charts[id].destroy();
  charts[id] = new Chart($(id), {
    type, data: { labels, datasets: [{ data, label: t("dash.reports"), backgroundColor: (opts && opts.colors) || "#1f6f8b", borderColor: "#1f6f8b", tension: 0.3, fill: false }] },
    options: Object.assign({ responsive: true, maintainAspectRatio: false, animation: false, plugins: { legend: { display: type === "doughnut" } } }, (opts && opts.options) || {}),
  });
}
async function loadDashboard() {
  try {
    const s = await api("/api/v1/dashboard/summary");
    $("k-total").textContent = s.total; $("k-open").textContent = s.open; $("k-sla").textContent = s.sla_breached;
    const med = s.resolution_times.map((r) => r.median_hours).sort((a, b) => a - b);
    $("k-median").textContent = med.length ? med[Math.floor(med.length / 2)].toFixed(1) : "–";
    chart("c-category", "bar", Object.keys(s.by_category), Object.values(s.by_category), { options: { indexAxis: "y" } });
    const palette = ["#1f6f8b", "#99a8b2", "#e6b000", "#2e9e44", "#d2342b", "#7b4fa0", "#444"];
    chart("c-kota", "doughnut", Object.keys(s.by_kota), Object.values(s.by_kota), { colors: palette });
    chart("c-day", "line", Object.keys(s.per_day).map((d) => d.slice(5)), Object.values(s.per_day));
    chart("c-resolution", "bar", s.resolution_times.map((r) => r.category), s.resolution_times.map((r) => r.median_hours), { colors: "#2e9e44" });
  } catch (e) { flash(t("error.generic", { msg: e.message }), "error"); }
  loadSensors();
}
async function loadSensors() {
  let air = null, flood = null;
  try { air = await api("/api/v1/air-quality"); } catch (e) { air = null; }
  try { flood = await api("/api/v1/flood-gauges"); } catch (e) { flood = null; }
  const ispu = $("ispu");
  if (!air || !air.length) ispu.replaceChildren(el("p", { class: "muted", text: t("dash.no_sensors") }));
  else ispu.replaceChildren(...air.map((s) => el("div", { class: "tile", style: "background:" + (ISPU_COLORS[s.category] || "#777") },
    el("div", { class: "big", text: s.ispu == null ? "–" : Math.round(s.ispu) }), el("div", { text: s.name }), el("small", { text: (s.category || "") + (s.pollutant ? " · " + s.pollutant : "") }))));
  const gauges = $("gauges");
  if (!flood || !flood.length) { gauges.replaceChildren(el("p", { class: "muted", text: t("dash.no_sensors") })); return; }
  gauges.replaceChildren(...flood.map((g) => el("div", { class: "tile", style: "background:" + (SIAGA_COLORS[g.siaga] || "#777") },
    el("div", { class: "big", text: g.level_cm == null ? "–" : Math.round(g.level_cm) + " cm" }), el("div", { text: g.name }), el("small", { text: g.siaga ? t("dash.siaga", { n: g.siaga }) : "" }))));
  if (window.Chart) {
    if (charts["c-gauges"]) charts["c-gauges"].destroy();
    const colors = ["#1f6f8b", "#d2342b", "#2e9e44", "#e6b000", "#7b4fa0"];
    charts["c-gauges"] = new Chart($("c-gauges"), { type: "line", data: { datasets: flood.map((g, i) => ({ label: g.name, data: (g.recent || []).map((p) => ({ x: p.at.slice(11, 16), y: p.level_cm })), borderColor: colors[i % colors.length], pointRadius: 0, tension: 0.3 })) },
      options: { maintainAspectRatio: false, animation: false, parsing: { xAxisKey: "x", yAxisKey: "y" }, plugins: { legend: { position: "bottom" } } } });
  }
}

// -- open data --------------------------------------------------------------------------------------------
async function searchData(ev) {
  if (ev) ev.preventDefault();
  const q = $("d-q").value.trim();
  try {
    const res = await api("/api/3/action/package_search?rows=50&q=" + encodeURIComponent(q));
    const r = res.result;
    $("d-count").textContent = t("data.count", { n: r.count });
    $("d-results").replaceChildren(...r.results.map((p) => el("div", { class: "card dataset" },
      el("h3", { text: p.title || p.name }), el("p", { class: "muted", text: (p.organization ? p.organization.title + " · " : "") + (p.tags || []).map((x) => x.name).join(", ") }),
      el("p", { text: p.notes || "" }),
      el("div", { class: "downloads" }, ...(p.resources || []).map((res) => el("a", { class: "button secondary", href: res.url, download: "" , text: t("data.download") + " " + (res.format || res.name) }))))));
  } catch (e) {
    $("d-count").textContent = ""; $("d-results").replaceChildren(el("p", { class: "muted", text: t("data.unavailable") }));
  }
}

// -- staff ------------------------------------------------------------------------------------------------
function staffToken() { return sessionStorage.getItem("kota.staff") || ""; }
async function staffApi(path, options) {
  options = options || {};
  options.headers = Object.assign({ "Authorization": "Bearer " + staffToken(), "Accept": "application/json" }, options.headers || {});
  return api(path, options);
}
function editingInbox() {
  return [...document.querySelectorAll("#s-rows select.s-next, #s-rows input.s-note")].some((e) => e.value !== "");
}
function autoReloadInbox() {
  // never redraw under a petugas who is choosing a status or typing a note: try again a little later
  if (editingInbox()) { clearTimeout(inboxReload); inboxReload = setTimeout(autoReloadInbox, 2000); return; }
  loadInbox(true);
}
async function loadInbox(auto) {
  if (!staffToken()) { stopInboxWatch(); $("s-table").hidden = true; $("s-logout").hidden = true; $("s-who").textContent = ""; return; }
  try {
    const who = await staffApi("/api/v1/staff/me");
    $("s-who").textContent = t("staff.who", { sub: who.subject, agency: who.agency }); $("s-logout").hidden = false;
    const filter = $("s-filter").value === "open" ? "&status=received&status=routed&status=in_progress" : "";
    const page = await staffApi("/api/v1/staff/inbox?page_size=100" + filter);
    if (auto === true && editingInbox()) { autoReloadInbox(); return; }  // the petugas started editing meanwhile
    $("s-table").hidden = false;
    if (!page.complaints.length) { $("s-rows").replaceChildren(el("tr", {}, el("td", { colspan: "5", text: t("staff.empty") }))); watchInbox(); return; }
    $("s-rows").replaceChildren(...page.complaints.map(inboxRow));
    watchInbox();
  } catch (e) {
    flash(t("error.generic", { msg: e.message }), "error");
    if (e.status === 401) { sessionStorage.removeItem("kota.staff"); }
  }
}
// Live inbox: the agency's event stream read with fetch (EventSource cannot send the bearer token).
let inboxStream = null, inboxReload = null;
async function watchInbox() {
  if (inboxStream || !staffToken()) return;
  inboxStream = new AbortController();
  try {
    const res = await fetch("/api/v1/staff/events", { headers: { "Authorization": "Bearer " + staffToken() }, signal: inboxStream.signal });
    if (!res.ok || !res.body) throw new Error(String(res.status));
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
        if (block.startsWith("id:") || block.includes("\nevent: complaint")) {
          clearTimeout(inboxReload); inboxReload = setTimeout(autoReloadInbox, 300);
        }
      }
    }
  } catch (e) { /* aborted or dropped: the periodic reload still runs */ }
  inboxStream = null;
}
function stopInboxWatch() { if (inboxStream) { inboxStream.abort(); inboxStream = null; } }

function inboxRow(c) {
  const select = el("select", { "data-id": c.id, class: "s-next" }, el("option", { value: "", text: t("staff.move_to") }),
    ...NEXT[c.status].map((s) => el("option", { value: s, text: t("status." + s) })));
  const note = el("input", { class: "s-note", placeholder: t("staff.note"), maxlength: "4000" });
  const save = el("button", { type: "button", class: "s-save", text: t("staff.save") });
  save.addEventListener("click", async () => {
    if (!select.value) return;
    save.disabled = true;
    try {
      const updated = await staffApi("/api/v1/staff/complaints/" + c.id + "/status", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ status: select.value, note: note.value }) });
      flash(t("staff.saved", { id: c.id, status: t("status." + updated.status) }), "info");
      loadInbox();
    } catch (e) { flash(t("error.generic", { msg: e.message }), "error"); save.disabled = false; }
  });
  const loc = [c.location.kelurahan, c.location.kecamatan, c.location.kota].filter((x) => x).join(", ");
  return el("tr", { "data-id": c.id },
    el("td", {}, el("a", { href: "#/lacak/" + c.id, text: c.id })), el("td", { text: c.service_name }), el("td", { text: loc || c.location.address || "–" }),
    el("td", {}, el("span", { class: "badge s-" + c.status, "data-status": c.status, text: t("status." + c.status) }), c.sla_breached ? " ⚠" : ""),
    el("td", { class: "actions" }, select, note, save));
}

// -- routing ----------------------------------------------------------------------------------------------
function route() {
  const parts = (location.hash || "#/lapor").slice(2).split("/");
  const page = ["lapor", "lacak", "dasbor", "data", "petugas", "musrenbang", "kerjasama"].includes(parts[0]) ? parts[0] : "lapor";
  document.querySelectorAll(".page").forEach((p) => { p.hidden = p.id !== "page-" + page; });
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", a.getAttribute("href") === "#/" + page));
  flash("");
  if (page !== "lacak" && source) { source.close(); source = null; }
  if (page !== "petugas") stopInboxWatch();
  if (window.Musrenbang) { if (page === "musrenbang") window.Musrenbang.show(parts.slice(1)); else window.Musrenbang.leave(); }
  if (window.Collab && page === "kerjasama") window.Collab.show(parts.slice(1));
  if (page === "lapor") { loadReportForm(); }
  if (page === "lacak") track(decodeURIComponent(parts[1] || ""));
  if (page === "dasbor") loadDashboard();
  if (page === "data") searchData();
  if (page === "petugas") loadInbox();
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll(".lang button").forEach((b) => b.addEventListener("click", () => {
    lang = b.dataset.lang; localStorage.setItem("kota.lang", lang); applyI18n();
  }));
  $("f-category").addEventListener("change", onCategory);
  $("f-kota").addEventListener("change", onKota);
  $("f-kecamatan").addEventListener("change", onKecamatan);
  $("f-geo").addEventListener("click", usePosition);
  $("f-anonymous").addEventListener("change", () => { $("contact-fields").hidden = $("f-anonymous").checked; });
  $("report-form").addEventListener("submit", submitReport);
  $("track-form").addEventListener("submit", (ev) => { ev.preventDefault(); location.hash = "#/lacak/" + encodeURIComponent($("t-id").value.trim()); });
  $("data-form").addEventListener("submit", searchData);
  $("t-feedback").addEventListener("submit", (ev) => { ev.preventDefault(); feedback("rating"); });
  $("t-reopen").addEventListener("click", () => feedback("reopen"));
  $("staff-login").addEventListener("submit", (ev) => { ev.preventDefault(); sessionStorage.setItem("kota.staff", $("s-token").value.trim()); $("s-token").value = ""; loadInbox(); });
  $("s-logout").addEventListener("click", () => { sessionStorage.removeItem("kota.staff"); loadInbox(); });
  $("s-refresh").addEventListener("click", loadInbox);
  $("s-filter").addEventListener("change", loadInbox);
  window.addEventListener("hashchange", route);
  applyI18n();
  route();
  setInterval(() => { if (!$("page-petugas").hidden && staffToken()) autoReloadInbox(); }, 15000);
});
