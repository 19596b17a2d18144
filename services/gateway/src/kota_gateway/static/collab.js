/* Kota portal: "Kerja sama kota" (Bahasa Indonesia). Uses app.js's helpers ($, el, api, flash).
   #/kerjasama: a world map of the partner cities, drawn offline (the vendored Leaflet over Natural Earth's country
   outlines in static/vendor/world-110m: no tile server, nothing from the internet), the partnerships with their
   state and history, the data-sharing agreements in summary and the timeline of activities. */
"use strict";

window.Collab = (function () {
  const API = "/api/v1/collab";
  const WORLD = "/static/vendor/world-110m/countries-110m.geojson";
  const KIND = { sister_city: "Kota kembar (sister city)", mou: "Nota kesepahaman (MoU)", ascn_project: "Proyek ASCN",
    technical_cooperation: "Kerja sama teknis" };
  const KIND_COLORS = { sister_city: "#c2410c", mou: "#7b4fa0", ascn_project: "#1f6f8b", technical_cooperation: "#2e9e44" };
  const STATUS = { proposed: "Diusulkan", negotiating: "Dalam perundingan", signed: "Ditandatangani", active: "Aktif",
    renewed: "Diperpanjang", expired: "Habis masa berlaku", ended: "Diakhiri", declined: "Ditolak" };
  const ACTIVITY = { visit_in_person: "Kunjungan langsung", visit_virtual: "Kunjungan virtual", workshop: "Lokakarya",
    shared_solution: "Berbagi solusi" };
  const AGREEMENT = { in_force: "Berlaku", expired: "Habis masa berlaku", revoked: "Dicabut" };
  const FOCUS = { civic_social: "Sipil dan sosial", health_wellbeing: "Kesehatan dan kesejahteraan",
    safety_security: "Keselamatan dan keamanan", quality_environment: "Kualitas lingkungan",
    built_infrastructure: "Infrastruktur terbangun", industry_innovation: "Industri dan inovasi" };
  const dateFmt = new Intl.DateTimeFormat("id-ID", { day: "numeric", month: "long", year: "numeric" });
  const number = (n) => new Intl.NumberFormat("id-ID").format(n || 0);

  let map = null, world = null, markers = null, cities = [];

  function day(iso) { return iso ? dateFmt.format(new Date(iso + "T00:00:00")) : ""; }
  function badge(status) { return el("span", { class: "badge kk-s-" + status, "data-status": status, text: STATUS[status] || status }); }
  function failed(e) { flash("Terjadi kesalahan: " + e.message, "error"); }

  // -- the map -------------------------------------------------------------------------------------------------
  async function ensureMap() {
    if (map || !window.L) return;
    map = L.map("kk-map", { scrollWheelZoom: false, worldCopyJump: true, minZoom: 1, maxZoom: 7 }).setView([10, 100], 2);
    markers = L.layerGroup().addTo(map);
    try {
      const outline = await (await fetch(WORLD)).json();
      // Antarctica's outline runs along the map's lower edge in Web Mercator: left out, no partner is there
      outline.features = outline.features.filter((f) => f.properties.name !== "Antarctica");
      world = L.geoJSON(outline, { interactive: false, attribution: "Batas negara: Natural Earth",
        style: { color: "#9aa5b1", weight: 0.6, fillColor: "#f3efe4", fillOpacity: 1 } }).addTo(map);
      world.bringToBack();
    } catch (e) { /* the markers still show, over the plain sea */ }
  }

  function cityKind(c) {
    if (c.home) return "home";
    const kinds = c.partnerships.map((p) => p.kind);
    for (const k of ["sister_city", "mou", "technical_cooperation", "ascn_project"]) if (kinds.includes(k)) return k;
    return "none";
  }

  function drawCities() {
    if (!map) return;
    markers.clearLayers();
    const home = cities.find((c) => c.home && c.lat != null);
    const onlyKind = $("kk-kind").value, onlyAscn = $("kk-ascn").checked;
    const points = [];
    let shown = 0;
    for (const c of cities) {
      if (c.lat == null) continue;
      if (!c.home && onlyAscn && !c.ascn_member) continue;
      if (!c.home && onlyKind && !c.partnerships.some((p) => p.kind === onlyKind)) continue;
      const kind = cityKind(c);
      const color = c.home ? "#111" : (KIND_COLORS[kind] || "#777");
      if (home && !c.home && c.partnerships.some((p) => p.kind !== "ascn_project")) {
        L.polyline([[home.lat, home.lon], [c.lat, c.lon]], { color, weight: 1, opacity: 0.45, interactive: false,
          className: "kk-link" }).addTo(markers);
      }
      const marker = L.circleMarker([c.lat, c.lon], { radius: c.home ? 8 : (c.federated ? 7 : 5), color: c.federated ? "#111" : color,
        weight: c.federated ? 2.5 : 1, fillColor: color, fillOpacity: 0.85,
        className: "kk-marker kk-city-" + c.id + (c.home ? " kk-home" : "") + (c.federated ? " kk-federated" : "") });
      marker.bindTooltip(c.name);
      marker.bindPopup(() => cityPopup(c));
      marker.addTo(markers);
      points.push([c.lat, c.lon]);
      if (!c.home) shown += 1;
    }
    $("kk-count").textContent = number(shown) + " kota mitra di peta";
    map.invalidateSize();
    // no animation: the markers stand where they are drawn (a click during a zoom animation hit the sea)
    if (points.length > 1) map.fitBounds(points, { padding: [20, 20], maxZoom: 5, animate: false });
  }

  function cityPopup(c) {
    const box = el("div", { class: "kk-popup" }, el("strong", { text: c.name }),
      el("div", { class: "muted", text: [c.region, c.country].filter((x) => x).join(", ") +
        (c.ascn_member ? " · anggota ASCN" : "") + (c.federated ? " · menjalankan Kota (terfederasi)" : "") }));
    if (c.home) box.append(el("div", { text: "Kota ini" }));
    const list = el("ul", {});
    for (const p of c.partnerships.slice(0, 6)) {
      list.append(el("li", {}, el("a", { href: "#/kerjasama/" + encodeURIComponent(p.id), text: p.title }), " — ",
        STATUS[p.status] || p.status));
    }
    if (c.partnerships.length > 6) list.append(el("li", { class: "muted", text: "dan " + (c.partnerships.length - 6) + " lainnya" }));
    if (!c.home) box.append(list);
    return box;
  }

  // -- partnerships, agreements, timeline ------------------------------------------------------------------------
  function renderPartnerships(items) {
    const onlyKind = $("kk-kind").value;
    const rows = items.filter((p) => !onlyKind || p.kind === onlyKind).map((p) => {
      const partners = p.parties.filter((x) => !cities.some((c) => c.home && c.id === x.city_id));
      const names = partners.length > 4 ? partners.slice(0, 3).map((x) => x.city_name).join(", ") + " dan " + (partners.length - 3) + " kota lain"
        : partners.map((x) => x.city_name).join(", ");
      return el("tr", { "data-id": p.id },
        el("td", {}, el("a", { href: "#/kerjasama/" + encodeURIComponent(p.id), text: p.title }),
          p.federated ? el("span", { class: "muted", text: " · terfederasi" + (p.sync_pending ? " (menunggu mitra)" : "") }) : ""),
        el("td", { text: KIND[p.kind] || p.kind || "–" }), el("td", { text: names || "–" }), el("td", {}, badge(p.status)));
    });
    $("kk-partnerships").replaceChildren(...rows);
  }

  function renderAgreements(summary) {
    $("kk-agreements-summary").textContent = summary.agreements.length
      ? number(summary.in_force) + " berlaku, " + number(summary.expired) + " habis masa berlaku, " + number(summary.revoked) + " dicabut"
      : "Belum ada perjanjian berbagi data.";
    const name = (id) => (cities.find((c) => c.id === id) || { name: id }).name;
    $("kk-agreements").replaceChildren(...summary.agreements.map((a) => el("li", { "data-id": a.id, "data-state": a.state },
      el("strong", { text: name(a.city_id) }), " — ",
      [...a.dataset_ids.map((d) => "dataset " + d), ...a.streams.map((s) => "aliran " + s)].join(", "),
      a.valid_until ? " · sampai " + day(a.valid_until) : "", " ", el("span", { class: "badge kk-a-" + a.state, text: AGREEMENT[a.state] }))));
  }

  function timelineItem(a) {
    const when = a.starts_on ? day(a.starts_on) + (a.ends_on && a.ends_on !== a.starts_on ? " – " + day(a.ends_on) : "") : "Tanggal belum dicatat";
    const item = el("li", { "data-id": a.id, class: "kk-activity" }, el("time", { datetime: a.starts_on || "", text: when }),
      el("div", {}, el("strong", { text: a.title })),
      el("div", { class: "muted", text: [ACTIVITY[a.kind] || a.kind, a.cities.map((c) => c.name).join(", "),
        a.participants ? number(a.participants) + " peserta" : ""].filter((x) => x).join(" · ") }));
    if (a.partnership) item.append(el("div", {}, "Kemitraan: ", el("a", { href: "#/kerjasama/" + encodeURIComponent(a.partnership.id), text: a.partnership.title })));
    if (a.outcomes) item.append(el("div", { text: "Hasil: " + a.outcomes }));
    return item;
  }

  function renderTimeline(items) {
    $("kk-timeline").replaceChildren(...items.map(timelineItem));
    $("kk-timeline-empty").hidden = items.length > 0;
  }

  async function loadOverview() {
    try {
      const [found, partnerships, agreements, activities] = await Promise.all([api(API + "/cities"),
        api(API + "/partnerships"), api(API + "/agreements"), api(API + "/activities")]);
      cities = found;
      const home = cities.find((c) => c.home);
      $("kk-home").textContent = home ? "Mitra " + home.name + " di dunia: kota kembar, nota kesepahaman, Jaringan Kota Cerdas ASEAN (ASCN) dan kerja sama teknis." : "";
      await ensureMap();
      drawCities();
      renderPartnerships(partnerships);
      renderAgreements(agreements);
      renderTimeline(activities);
      $("kk-overview").dataset.partnerships = JSON.stringify(partnerships.map((p) => p.id));
    } catch (e) {
      $("kk-count").textContent = "Layanan kerja sama kota belum tersedia.";
      failed(e);
    }
  }

  // -- one partnership ------------------------------------------------------------------------------------------
  async function showPartnership(id) {
    try {
      const p = await api(API + "/partnerships/" + encodeURIComponent(id));
      $("kk-d-title").textContent = p.title;
      $("kk-d-kind").textContent = (KIND[p.kind] || p.kind) + " · " + (p.scope === "domestic" ? "dalam negeri (Permendagri 22/2020)" : "luar negeri (Permendagri 25/2020)");
      const b = $("kk-d-status"); b.replaceChildren(badge(p.status));
      $("kk-d-parties").textContent = p.parties.map((x) => x.city_name).join(", ");
      $("kk-d-focus").textContent = p.focus_areas.map((f) => FOCUS[f] || f).join(", ") || "–";
      $("kk-d-signed").textContent = p.signed_on ? day(p.signed_on) : "–";
      $("kk-d-valid").textContent = p.valid_until ? day(p.valid_until) : "–";
      const doc = $("kk-d-document");
      doc.replaceChildren(p.document_url ? el("a", { href: p.document_url, rel: "noopener", target: "_blank", text: "dokumen" }) : "–");
      const names = Object.fromEntries(p.parties.map((x) => [x.city_id, x.city_name]));
      $("kk-d-history").replaceChildren(...p.history.map((h) => el("li", { "data-status": h.status },
        el("time", { text: h.at ? new Date(h.at).toLocaleString("id-ID", { dateStyle: "medium", timeStyle: "short" }) : "" }), " ",
        badge(h.status), " oleh " + (names[h.city_id] || h.city_id) + (h.note ? ": " + h.note : ""))));
      renderAgreementsOf(p);
      $("kk-d-activities").replaceChildren(...p.activities.map((a) => timelineItem(Object.assign({ cities: [], partnership: null }, a))));
      $("kk-d-activities-empty").hidden = p.activities.length > 0;
    } catch (e) { failed(e); }
  }
  function renderAgreementsOf(p) {
    $("kk-d-agreements").replaceChildren(...p.agreements.map((a) => el("li", { "data-state": a.state },
      [...a.dataset_ids.map((d) => "dataset " + d), ...a.streams.map((s) => "aliran " + s)].join(", "),
      a.valid_until ? " · sampai " + day(a.valid_until) : "", " ", el("span", { class: "badge kk-a-" + a.state, text: AGREEMENT[a.state] }))));
    $("kk-d-agreements-empty").hidden = p.agreements.length > 0;
  }

  // -- routing --------------------------------------------------------------------------------------------------
  let wired = false;
  function wire() {
    if (wired) return;
    wired = true;
    $("kk-kind").addEventListener("change", () => { drawCities(); api(API + "/partnerships").then(renderPartnerships).catch(failed); });
    $("kk-ascn").addEventListener("change", drawCities);
  }
  async function show(parts) {
    wire();
    const id = parts[0] ? decodeURIComponent(parts[0]) : "";
    $("kk-overview").hidden = Boolean(id);
    $("kk-detail").hidden = !id;
    if (id) return showPartnership(id);
    return loadOverview();
  }
  function leave() {}
  return { show, leave };
})();
