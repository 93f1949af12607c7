"""Reference data for Kota Cilegon, Banten (Kemendagri 36.72), loaded by `seed_cilegon`.

Sources: Kepmendagri No. 300.2.2-2430 Tahun 2025 for the area codes (kelurahan codes run in the
order listed, from .1001 upward); the city's agency list; the default routing agreed with the
command centre. Another city replaces this module's data and keeps the code.
"""

CITY_CODE = "36.72"

# (kecamatan code, name, aliases, [kelurahan names in code order], {kelurahan: aliases})
KECAMATAN = [
    (
        "36.72.01",
        "Cibeber",
        "",
        ["Cibeber", "Kedaleman", "Bulakan", "Cikerai", "Karang Asem", "Kalitimbang"],
    ),
    ("36.72.02", "Cilegon", "", ["Bagendung", "Ciwedus", "Bendungan", "Ketileng", "Ciwaduk"]),
    ("36.72.03", "Pulomerak", "Pulo Merak", ["Tamansari", "Lebakgede", "Mekarsari", "Suralaya"]),
    (
        "36.72.04",
        "Ciwandan",
        "",
        ["Banjar Negara", "Tegal Ratu", "Kubangsari", "Gunung Sugih", "Kepuh", "Randakari"],
    ),
    (
        "36.72.05",
        "Jombang",
        "",
        ["Sukmajaya", "Jombang Wetan", "Masigit", "Panggung Rawi", "Gedong Dalem"],
    ),
    ("36.72.06", "Grogol", "Gerogol", ["Kotasari", "Grogol", "Rawa Arum", "Gerem"]),
    (
        "36.72.07",
        "Purwakarta",
        "",
        ["Ramanuju", "Kotabumi", "Kebon Dalem", "Purwakarta", "Tegal Bunder", "Pabean"],
    ),
    (
        "36.72.08",
        "Citangkil",
        "",
        [
            "Warnasari",
            "Dringo",
            "Lebak Denok",
            "Taman Baru",
            "Kebonsari",
            "Samangraya",
            "Citangkil",
        ],
    ),
]

# Spellings seen in the press, accepted in search.
KELURAHAN_ALIASES = {
    "Kebon Dalem": "Kebondalem",
    "Lebak Denok": "Lebakdenok",
    "Dringo": "Deringo",
    "Tegal Ratu": "Tegalratu",
    "Banjar Negara": "Banjarnegara",
    "Karang Asem": "Karangasem",
}

# (code, name, duty phone or "")
AGENCIES = [
    ("DPKP", "Dinas Pemadam Kebakaran dan Penyelamatan", "+62254377113"),
    ("PSC119", "Dinas Kesehatan — UPTD Pusat Layanan Gawat Darurat Terpadu (PSC 119)", ""),
    ("BPBD", "Badan Penanggulangan Bencana Daerah", ""),
    ("SATPOLPP", "Satuan Polisi Pamong Praja", ""),
    ("DISHUB", "Dinas Perhubungan", ""),
    ("DINSOS", "Dinas Sosial", ""),
    ("DLH", "Dinas Lingkungan Hidup", ""),
    ("DPUTR", "Dinas Pekerjaan Umum dan Tata Ruang", ""),
    ("RSUD", "RSUD Kota Cilegon", ""),
    ("POLRES", "Polres Cilegon (Polda Banten)", ""),
]

# (code, name, default priority 1 kritis … 4 rendah, default agencies)
CATEGORIES = [
    ("FIRE", "Kebakaran", 1, ["DPKP"]),
    ("MEDICAL", "Kegawatdaruratan medis", 1, ["PSC119"]),
    ("TRAFFIC", "Kecelakaan lalu lintas", 1, ["POLRES", "PSC119", "DISHUB"]),
    ("CRIME", "Kriminalitas dan keamanan", 2, ["POLRES"]),
    ("DISASTER", "Bencana alam (banjir, longsor, gempa, tsunami)", 1, ["BPBD", "DPKP"]),
    ("INDUSTRIAL", "Kecelakaan industri / bahan berbahaya", 1, ["DPKP", "BPBD", "DLH"]),
    ("RESCUE", "Penyelamatan (orang terjebak, hewan berbahaya)", 2, ["DPKP"]),
    ("TREE", "Pohon tumbang", 2, ["BPBD", "DLH"]),
    ("PUBLIC_ORDER", "Gangguan ketertiban umum", 3, ["SATPOLPP"]),
    ("SOCIAL", "Masalah sosial (ODGJ, terlantar)", 3, ["DINSOS"]),
    ("VIOLENCE", "Kekerasan dalam rumah tangga / terhadap anak", 2, ["POLRES", "DINSOS"]),
    ("INFRA", "Infrastruktur (jalan, PJU, drainase)", 4, ["DPUTR"]),
    ("OTHER", "Lainnya / informasi", 4, []),  # the command centre handles it
]

DEFAULT_POLICY_NAME = "Standar 112"
# Counted from the assignment's creation (CONTRACT §8).
DEFAULT_POLICY_STEPS = [
    {"after_seconds": 60, "action": "notify_agency"},
    {"after_seconds": 120, "action": "sms_agency"},
    {"after_seconds": 180, "action": "notify_supervisors"},
    {"after_seconds": 300, "action": "call_agency"},
    {"after_seconds": 600, "action": "reroute"},
]

DEMO_COMMAND_CENTRE_USERS = [
    ("admin", "admin"),
    ("supervisor", "supervisor"),
    ("operator1", "operator"),
    ("operator2", "operator"),
]
