"""The areas' map points: the committed table covers every seeded kecamatan and kelurahan with a
point inside Kota Cilegon, the seed and the migration fill them, and the areas API serves them."""

import math
from decimal import Decimal

import pytest

from agencies import cilegon
from agencies.models import Area
from agencies.seed import seed_cilegon

# Kota Cilegon's extent (about 162.6 km², between Merak and Ciwandan), with a margin.
SOUTH, NORTH, WEST, EAST = -6.11, -5.87, 105.90, 106.12
# A kelurahan lies inside its kecamatan: its point cannot be far from the kecamatan's.
KELURAHAN_FROM_KECAMATAN_KM = 6


def distance_km(a, b):
    (lat1, lon1), (lat2, lon2) = a, b
    x = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    y = math.radians(lat2 - lat1)
    return 6371 * math.hypot(x, y)


@pytest.mark.django_db
def test_the_table_covers_exactly_the_seeded_areas():
    seed_cilegon()
    assert set(Area.objects.values_list("code", flat=True)) == set(cilegon.CENTROIDS)
    assert len(cilegon.CENTROIDS) == 8 + 43


def test_every_point_lies_in_cilegon_and_near_its_kecamatan():
    for code, (latitude, longitude) in cilegon.CENTROIDS.items():
        assert SOUTH < latitude < NORTH and WEST < longitude < EAST, code
        kecamatan = code[:8]
        if code != kecamatan:
            far = distance_km((latitude, longitude), cilegon.CENTROIDS[kecamatan])
            assert far < KELURAHAN_FROM_KECAMATAN_KM, (code, far)


def test_no_two_areas_share_a_point():
    assert len(set(cilegon.CENTROIDS.values())) == len(cilegon.CENTROIDS)


@pytest.mark.django_db
def test_the_seed_stores_each_point():
    seed_cilegon()
    citangkil = Area.objects.get(code="36.72.08.1007")
    assert citangkil.name == "Citangkil"
    assert (citangkil.latitude, citangkil.longitude) == (
        Decimal("-6.015487"),
        Decimal("106.035593"),
    )
    assert not Area.objects.filter(latitude__isnull=True).exists()


@pytest.mark.django_db
def test_the_areas_api_returns_the_points(client, operator):
    client.force_login(operator)
    areas = client.get("/api/v1/areas/?page_size=500").json()["results"]
    assert len(areas) == 51
    suralaya = next(area for area in areas if area["name"] == "Suralaya")
    assert suralaya["latitude"] == "-5.901109"
    assert suralaya["longitude"] == "106.032710"
    assert all(area["latitude"] and area["longitude"] for area in areas)


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_already_seeded_areas_their_points():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = [("agencies", "0003_user_answer_device")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old_area = executor.loader.project_state(before).apps.get_model("agencies", "Area")
    old_area.objects.create(code="36.72.03", name="Pulomerak", kind="kecamatan")
    old_area.objects.create(code="99.99", name="Elsewhere", kind="kecamatan")

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    pulomerak = Area.objects.get(code="36.72.03")
    assert (pulomerak.latitude, pulomerak.longitude) == (
        Decimal("-5.920659"),
        Decimal("106.020408"),
    )
    assert Area.objects.get(code="99.99").latitude is None
