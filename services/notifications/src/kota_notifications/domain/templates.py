"""What each message says, in Bahasa Indonesia (the default) and in English (by the citizen's preference).

Every message names the report's number and links to its page on the portal; every one ends with how to stop
them. Chat and SMS get the body alone; e-mail gets the subject too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LANGUAGES = ("id", "en")

_SUBJECTS = {
    "id": {
        "acknowledged": "Laporan {complaint_id} diterima", "routed": "Laporan {complaint_id} diteruskan ke {agency}",
        "in_progress": "Laporan {complaint_id} sedang dikerjakan", "resolved": "Laporan {complaint_id} selesai",
        "rejected": "Laporan {complaint_id} tidak dapat ditindaklanjuti", "note": "Pesan petugas tentang laporan {complaint_id}",
        "sla_breached": "Laporan {complaint_id} dieskalasi", "duplicate": "Laporan {complaint_id} digabung",
        "intake_refused": "Laporan Anda belum dapat kami proses", "opted_out": "Anda berhenti berlangganan",
    },
    "en": {
        "acknowledged": "Report {complaint_id} received", "routed": "Report {complaint_id} sent to {agency}",
        "in_progress": "Work on report {complaint_id} has started", "resolved": "Report {complaint_id} resolved",
        "rejected": "Report {complaint_id} cannot be acted on", "note": "A message from staff about report {complaint_id}",
        "sla_breached": "Report {complaint_id} escalated", "duplicate": "Report {complaint_id} merged",
        "intake_refused": "We could not process your report yet", "opted_out": "You have unsubscribed",
    },
}

_BODIES = {
    "id": {
        "acknowledged": "Terima kasih. Laporan Anda kami terima dengan nomor {complaint_id}.{agency_part}{code_part}",
        "routed": "Laporan {complaint_id} diteruskan ke {agency}{unit_part}.{due_part}",
        "in_progress": "Laporan {complaint_id} sedang dikerjakan oleh {agency}.{note_part}",
        "resolved": "Laporan {complaint_id} telah diselesaikan oleh {agency}.{note_part} Beri nilai penyelesaiannya "
                    "dengan kode rahasia Anda di halaman laporan.",
        "rejected": "Laporan {complaint_id} tidak dapat ditindaklanjuti oleh {agency}.{note_part}",
        "note": "Pesan petugas tentang laporan {complaint_id}: {note}",
        "sla_breached": "Laporan {complaint_id} belum selesai tepat waktu dan telah dieskalasi ke {escalated_to}.",
        "duplicate": "Laporan {complaint_id} digabung dengan laporan {duplicate_of} tentang masalah yang sama; "
                     "perkembangannya kami kabarkan bersama.",
        "intake_refused": "Laporan Anda belum dapat kami proses karena belum ada: {missing}. Kirim ulang laporan "
                          "dengan keterangan tersebut.",
        "opted_out": "Anda tidak akan lagi menerima pesan dari kami di alamat ini.",
    },
    "en": {
        "acknowledged": "Thank you. We received your report as number {complaint_id}.{agency_part}{code_part}",
        "routed": "Report {complaint_id} was sent to {agency}{unit_part}.{due_part}",
        "in_progress": "{agency} has started work on report {complaint_id}.{note_part}",
        "resolved": "{agency} has resolved report {complaint_id}.{note_part} Rate the resolution with your secret "
                    "code on the report's page.",
        "rejected": "{agency} cannot act on report {complaint_id}.{note_part}",
        "note": "A message from staff about report {complaint_id}: {note}",
        "sla_breached": "Report {complaint_id} was not resolved in time and has been escalated to {escalated_to}.",
        "duplicate": "Report {complaint_id} was merged with report {duplicate_of} about the same problem; we will "
                     "keep you posted on both together.",
        "intake_refused": "We could not process your report yet: it lacks {missing}. Please send it again with "
                          "that information.",
        "opted_out": "You will no longer receive messages from us at this address.",
    },
}

_MISSING = {
    "id": {"description": "uraian masalahnya", "location": "lokasinya (nama kelurahan atau alamat)",
           "category": "jenis masalahnya", "severity": "tingkat keparahannya (ringan, sedang atau berat)"},
    "en": {"description": "a description of the problem", "location": "where it is (the kelurahan or an address)",
           "category": "what kind of problem it is", "severity": "how severe it is (light, moderate or severe)"},
}
_CODE = {"id": " Kode rahasia Anda: {code} (simpan untuk menilai atau membuka kembali laporan).",
         "en": " Your secret code: {code} (keep it to rate or reopen the report)."}
_TRACK = {"id": "Lacak laporan: {link}", "en": "Track the report: {link}"}
_STOP = {"id": "Balas BERHENTI untuk tidak lagi menerima pesan ini.", "en": "Reply STOP to receive no more of these messages."}
_ASK = {"id": "Agar cepat ditangani, balas dengan {missing}.", "en": "To speed it up, reply with {missing}."}


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


def language_of(preference: str) -> str:
    """The template language for a stated preference (an Accept-Language or Content-Language value, a code)."""
    first = (preference or "").split(",")[0].strip().lower()
    return "en" if first.startswith("en") else "id"


def describe_missing(missing: list[str], language: str) -> str:
    words = [_MISSING[language].get(m, m) for m in missing]
    joiner = " dan " if language == "id" else " and "
    return joiner.join(words)


def render(kind: str, language: str, facts: dict[str, Any], *, portal_url: str = "") -> Rendered:
    """The message of `kind` with its facts; unknown facts render empty (a template never fails a delivery)."""
    lang = language if language in LANGUAGES else "id"
    f = {"complaint_id": "", "agency": "", "unit": "", "note": "", "escalated_to": "", "duplicate_of": "",
         "tracking_code": "", "missing": ""} | {k: ("" if v is None else v) for k, v in facts.items()}
    if isinstance(f["missing"], list):
        f["missing"] = describe_missing(f["missing"], lang)
    f["unit_part"] = f" ({f['unit']})" if f["unit"] else ""
    due = str(f.get("due_at") or "")[:10]
    f["due_part"] = (f" Target selesai: {due}." if lang == "id" else f" Due: {due}.") if due else ""
    f["note_part"] = f" {f['note']}" if f["note"] else ""
    f["agency_part"] = (f" Laporan diteruskan ke {f['agency']}." if lang == "id" else f" It was sent to {f['agency']}.") \
        if f["agency"] else ""
    f["code_part"] = _CODE[lang].format(code=f["tracking_code"]) if f["tracking_code"] else ""
    subject = _SUBJECTS[lang][kind].format(**f)
    lines = [_BODIES[lang][kind].format(**f)]
    if facts.get("ask"):
        lines.append(_ASK[lang].format(missing=describe_missing(list(facts["ask"]), lang)))
    if f["complaint_id"] and portal_url:
        lines.append(_TRACK[lang].format(link=tracking_link(portal_url, f["complaint_id"])))
    if kind != "opted_out":
        lines.append(_STOP[lang])
    return Rendered(subject=subject, body="\n\n".join(lines))


def tracking_link(portal_url: str, complaint_id: str) -> str:
    return f"{portal_url.rstrip('/')}/#/lacak/{complaint_id}"
