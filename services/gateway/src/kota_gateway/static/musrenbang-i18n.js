/* English for the e-Musrenbang pages (musrenbang.js), keyed by their Indonesian text (whitespace collapsed).
   Bahasa Indonesia is the default and needs no table. Names of stages, reasons and evidence come from the musrenbang
   service in Bahasa Indonesia and stay so. */
"use strict";

window.MusrenbangEN = {
  // the page
  "Musrenbang — usulan pembangunan warga": "Musrenbang — residents' development proposals",
  "Usulkan pekerjaan kecil untuk lingkungan Anda, dukung usulan tetangga, dan ikuti usulan dari forum kelurahan dan kecamatan sampai pelaksanaannya.":
    "Propose small works for your neighbourhood, support your neighbours' proposals, and follow them from the kelurahan and kecamatan forums to their realisation.",
  "Daftar & peta": "List & map", "Ajukan usulan": "Propose", "Hasil forum kecamatan": "Kecamatan forum results", "Petugas": "Staff",
  "Kota": "City", "Kecamatan": "Kecamatan", "Kelurahan": "Kelurahan", "Status": "Status", "Semua": "All",
  "Urutkan": "Sort by", "Terbaru": "Newest", "Dukungan terbanyak": "Most supported", "Skor tertinggi": "Highest score", "Biaya": "Cost",
  "Cari": "Search", "Tampilkan": "Show", "Muat lebih banyak": "Load more", "kata dalam judul atau masalah": "words in the title or problem",
  // a proposal
  "Nomor": "Number", "Lokasi": "Location", "Volume": "Volume", "Perkiraan biaya": "Estimated cost", "Dinas pelaksana": "Responsible agency",
  "Tahap": "Stage", "Dukungan warga": "Residents' supports", "Realisasi": "Realisation",
  "Ikuti usulan ini": "Follow this proposal", "Berhenti mengikuti": "Stop following",
  "Ikuti untuk melihat setiap perubahan secara langsung.": "Follow to see every change live.",
  "Anda mengikuti usulan ini: setiap perubahan tampil langsung.": "You follow this proposal: every change shows live.",
  "Menyambung ulang…": "Reconnecting…", "Diperbarui {t}": "Updated {t}",
  "NIK Anda (16 angka)": "Your NIK (16 digits)", "Dukung usulan ini": "Support this proposal", "Tarik dukungan": "Withdraw support",
  "Bukti dari kota": "Evidence from the city", "Skor dan rinciannya": "Score and its parts", "Riwayat": "History",
  "Tahapan pelaksanaan": "Realisation milestones", "Skor total {n}": "Total score {n}",
  "Kriteria": "Criterion", "Nilai (1-5)": "Points (1-5)", "Bobot": "Weight", "Kontribusi": "Contribution", "Penjelasan": "Explanation",
  "Belum dinilai: tim kecamatan menilai usulan yang sudah diverifikasi.": "Not scored yet: the kecamatan team scores verified proposals.",
  "Belum ada laporan atau peringatan di sekitar lokasi ini dalam 12 bulan terakhir.": "No reports or alerts around this place in the last 12 months.",
  "Belum ada catatan pelaksanaan.": "No realisation recorded yet.", "foto": "photo",
  "Usulan tidak ditemukan": "Proposal not found", "NIK harus 16 angka": "A NIK has 16 digits",
  "Dukungan ditarik.": "Support withdrawn.", "Terima kasih, dukungan Anda tercatat.": "Thank you, your support is recorded.",
  "Anda sudah mendukung usulan ini.": "You already support this proposal.", "Sisa dukungan Anda: {n}.": "Supports you have left: {n}.",
  // submitting
  "1. Periksa NIK dan kelurahan Anda": "1. Check your NIK and kelurahan", "NIK (16 angka, sesuai KTP)": "NIK (16 digits, as on your KTP)",
  "Periksa NIK": "Check NIK",
  "NIK hanya dipakai untuk memastikan Anda warga kecamatan ini; tidak ditampilkan kepada siapa pun.":
    "Your NIK is only used to make sure you live in this kecamatan; it is shown to no one.",
  "2. Usulan": "2. Proposal", "Judul usulan": "Title", "mis. Rehabilitasi saluran drainase RW 05": "e.g. Repair the RW 05 drain",
  "Masalah yang ingin diselesaikan": "The problem to solve", "Kegiatan (katalog)": "Activity (catalogue)", "Satuan": "Unit",
  "Harga satuan": "Unit cost", "Perkiraan biaya (volume × harga satuan):": "Estimated cost (volume × unit cost):",
  "3. Lokasi": "3. Location", "Alamat / patokan": "Address / landmark", "Gunakan posisi saya": "Use my position",
  "Tautan foto (opsional)": "Photo link (optional)", "Ajukan usulan lain": "Propose another",
  "Usulan Anda diterima": "Your proposal is received", "Nomor usulan:": "Proposal number:", "— biaya": "— cost",
  "Usulan serupa di sekitar Anda": "Similar proposals near you",
  "Jika sama, dukung usulan tersebut agar suara warga tidak terpecah.": "If it is the same, support that one so that residents' voices are not split.",
  "Lihat usulan ini": "See this proposal", "— pilih —": "— choose —", "kemiripan": "similarity",
  "Pilih kelurahan terlebih dahulu.": "Choose a kelurahan first.",
  "NIK sesuai: Anda dapat mengajukan usulan dan memberi {n} dukungan lagi.": "NIK checked: you may propose and give {n} more supports.",
  "Tidak dapat: {why}": "Not possible: {why}", "Posisi tidak tersedia": "Position unavailable", "Mencari posisi…": "Finding your position…",
  "Posisi: {lat}, {lon}": "Position: {lat}, {lon}", "Periksa NIK dan kelurahan Anda terlebih dahulu.": "Check your NIK and kelurahan first.",
  "Mengirim…": "Sending…",
  // staff
  "Token petugas Musrenbang (RT/RW, lurah, tim kecamatan, dinas, Bappeda)": "Musrenbang staff token (RT/RW, lurah, kecamatan team, agency, Bappeda)",
  "Masuk": "Sign in", "Keluar": "Sign out", "Diajukan (menunggu verifikasi)": "Submitted (awaiting verification)", "Muat ulang": "Reload",
  "Usulan": "Proposal", "Tindakan": "Actions", "Masuk sebagai {who} — {roles}": "Signed in as {who} — {roles}", "(wilayah {area})": "(area {area})",
  "Tidak ada usulan.": "No proposals.", "Alasan (wajib untuk menolak)": "Reason (required to reject)", "Verifikasi": "Verify", "Tolak": "Reject",
  "Usulan {id} kini {status}": "Proposal {id} is now {status}",
  "Gabungkan usulan ganda": "Merge duplicate proposals",
  "Usulan ganda dilipat ke usulan yang dipertahankan; dukungan setiap warga dihitung sekali.":
    "The duplicate is folded into the proposal that stays; each resident's support counts once.",
  "Usulan yang dipertahankan (nomor)": "Proposal that stays (number)", "Usulan ganda (nomor)": "Duplicate (number)", "Gabungkan": "Merge",
  "Isi nomor kedua usulan.": "Fill in both proposals' numbers.", "Usulan {source} digabung ke": "Proposal {source} merged into",
  "— kini {n} dukungan.": "— now {n} supports.", "Usulan digabung.": "Proposals merged.",
  "Catat capaian pelaksanaan": "Record a realisation milestone",
  "Untuk usulan yang sedang dikerjakan (dinas pelaksana, Bappeda). Warga yang mengikuti usulan melihatnya langsung.":
    "For proposals being built (responsible agency, Bappeda). Residents following the proposal see it live.",
  "Nomor usulan": "Proposal number", "Capaian": "Milestone", "mis. Saluran tergali 60%": "e.g. Drain 60% dug", "Progres (%)": "Progress (%)",
  "Tanggal": "Date", "Catatan (opsional)": "Note (optional)", "Catat capaian": "Record milestone", "Isi nomor usulan.": "Fill in the proposal's number.",
  "Capaian tercatat untuk": "Milestone recorded for", "progres kini {n}%.": "progress now {n}%.", "Capaian tercatat.": "Milestone recorded.",
  // the forum
  "Lihat hasil forum": "See the forum's result", "Unduh berita acara (PDF)": "Download the minutes (berita acara, PDF)",
  "Skor": "Score", "Keputusan": "Decision", "Alasan": "Reason", "Terpilih": "Selected", "Tidak terpilih": "Not selected",
  "Jalankan pemilihan (tim kecamatan)": "Run the selection (kecamatan team)", "Pagu indikatif (Rp)": "Indicative budget, pagu (Rp)",
  "Jumlah peserta forum": "People at the forum", "Tetapkan pilihan forum": "Decide the forum's selection",
  "Minimum per bidang (Rp, opsional)": "Minimum per field (Rp, optional)", "Batas per dinas (Rp, opsional)": "Ceiling per agency (Rp, optional)",
  "Tambah batas dinas": "Add an agency ceiling", "Hapus": "Remove", "Dinas": "Agency", "Paling banyak (Rp)": "At most (Rp)",
  "Forum Musrenbang Kecamatan {name} {year}": "Musrenbang forum of Kecamatan {name}, {year}",
  "{chosen} dari {n} usulan terpilih · biaya {cost} dari pagu {budget} · skor total {score} (cara serakah: {greedy})":
    "{chosen} of {n} proposals selected · cost {cost} of a {budget} budget · total score {score} (greedy: {greedy})",
  "terbukti optimal": "proven optimal", "{n} peserta": "{n} attendees", "ditetapkan {t}": "decided {t}",
  "minimum {field}: {amount}": "minimum {field}: {amount}", "batas {agency}: {amount}": "ceiling {agency}: {amount}",
  "Ketentuan forum": "The forum's limits", "Forum kecamatan ini belum menetapkan pilihannya.": "This kecamatan's forum has not decided its selection yet.",
  "Pilihan forum ditetapkan.": "The forum's selection is decided.",
  // the cycle and errors
  "Siklus {year} · tahap berjalan: {open} · setiap warga dapat memberi {n} dukungan":
    "Cycle {year} · open stage: {open} · each resident may give {n} supports",
  "tidak ada": "none", "{n} usulan": "{n} proposals", "dukungan": "supports",
  "Layanan Musrenbang belum tersedia.": "The Musrenbang service is not available yet.",
  "Layanan Musrenbang belum tersedia: {msg}": "The Musrenbang service is not available yet: {msg}",
  "Terjadi kesalahan: {msg}": "Something went wrong: {msg}",
  // statuses, levels, criteria, fields
  "Draf": "Draft", "Diajukan": "Submitted", "Terverifikasi": "Verified", "Ditolak": "Rejected", "Diprioritaskan": "Prioritised",
  "Masuk RKPD": "In the work plan (RKPD)", "Dalam pelaksanaan": "Being built", "Selesai": "Done", "Tidak terealisasi": "Not realised",
  "Digabung": "Merged", "Rembuk RW": "RW meeting", "Musrenbang Kelurahan": "Kelurahan Musrenbang", "Musrenbang Kecamatan": "Kecamatan Musrenbang",
  "Musrenbang Kota": "City Musrenbang", "Musrenbang Provinsi": "Province Musrenbang",
  "Urgensi": "Urgency", "Penerima manfaat": "Beneficiaries", "Keselarasan dengan prioritas": "Fit with priorities",
  "Infrastruktur": "Infrastructure", "Sosial budaya": "Social and cultural", "Ekonomi": "Economy",
};
