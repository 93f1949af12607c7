"""The map's browser side: the vendored Leaflet is there with its licence and version note, and
the Content-Security-Policy opens `img-src` to the tile server's host only when one is set."""

import hashlib
import re
from pathlib import Path

import pytest

from tests.test_softphone_assets import STRICT_POLICY, directives

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "static" / "vendor" / "leaflet"
LEAFLET_VERSION = "1.9.4"
# The files as the npm package ships them (see the README beside them).
CHECKSUMS = {
    "leaflet.js": "db49d009c841f5ca34a888c96511ae936fd9f5533e90d8b2c4d57596f4e5641a",
    "leaflet.css": "a7837102824184820dfa198d1ebcd109ff6d0ff9a2672a074b9a1b4d147d04c6",
    "leaflet.js.map": "600a10dc5cd110de0699510d322afcbe01c7ca90b4c5f48adc20314c70aac753",
}


def test_vendored_leaflet_has_its_licence_and_version_note():
    assert f"Leaflet {LEAFLET_VERSION}," in (VENDOR / "leaflet.js").read_text()[:200]
    assert "BSD 2-Clause License" in (VENDOR / "LICENSE").read_text()
    note = (VENDOR / "README.md").read_text()
    assert f"npm pack leaflet@{LEAFLET_VERSION}" in note
    for name, checksum in CHECKSUMS.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == checksum, name
        assert checksum in note, name
    assert sorted(path.name for path in VENDOR.iterdir()) == [
        "LICENSE",
        "README.md",
        "images",
        "leaflet.css",
        "leaflet.js",
        "leaflet.js.map",
    ]


def test_every_image_leaflets_css_names_is_vendored():
    css = (VENDOR / "leaflet.css").read_text()
    images = set(re.findall(r"url\((images/[^)]+)\)", css))
    assert images
    for image in images:
        assert (VENDOR / image).is_file(), image


def test_vendored_leaflet_needs_no_eval():
    script = (VENDOR / "leaflet.js").read_text()
    assert not re.search(r"\beval\s*\(|\bFunction\s*\(", script)


@pytest.mark.django_db
def test_policy_stays_strict_without_a_tile_server(client, settings):
    settings.MAP_TILE_URL = ""
    response = client.get("/accounts/login/")
    assert response.headers["Content-Security-Policy"] == STRICT_POLICY


@pytest.mark.django_db
def test_policy_allows_images_from_exactly_the_tile_server(client, settings):
    settings.MAP_TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    found = directives(client.get("/accounts/login/").headers["Content-Security-Policy"])
    assert found["img-src"] == ["'self'", "data:", "https://tile.openstreetmap.org"]
    # Nothing else moves: no script, style or connection to the tile server.
    for name, sources in directives(STRICT_POLICY).items():
        if name != "img-src":
            assert found[name] == sources, name


@pytest.mark.django_db
def test_policy_names_a_local_tile_server_with_its_port(client, settings):
    settings.MAP_TILE_URL = "http://tiles.pemkot.local:8080/osm/{z}/{x}/{y}.png"
    found = directives(client.get("/accounts/login/").headers["Content-Security-Policy"])
    assert found["img-src"] == ["'self'", "data:", "http://tiles.pemkot.local:8080"]


def test_a_subdomain_placeholder_becomes_the_leftmost_wildcard():
    from config.middleware import map_tile_source

    assert map_tile_source("https://{s}.tile.example.org/{z}/{x}/{y}.png") == (
        "https://*.tile.example.org"
    )
    assert map_tile_source("") == ""
