"""[grid] bounds in the other unit than the CRS (degrees on UTM, metres on EPSG:4326) are named as such, not
blamed on the resolution."""

from __future__ import annotations

import pytest

from irrmap.app.cli import main
from irrmap.core.config import GridSection, bounds_in_crs_units


@pytest.mark.parametrize(("bounds", "crs", "words"), [
    ((104.0, 38.865, 104.18, 39.0), "EPSG:32648", "look like degrees"),
    ((500000, 4300000, 520000, 4315000), "EPSG:4326", "are not degrees"),
])
def test_other_unit_bounds_are_named(bounds, crs, words):
    with pytest.raises(ValueError, match=words):
        bounds_in_crs_units(bounds, crs)
    with pytest.raises(ValueError, match=words):
        GridSection(crs=crs, bounds=bounds, resolution=250)


@pytest.mark.parametrize(("bounds", "crs"), [
    ((104.0, 38.865, 104.18, 39.0), "EPSG:4326"),
    ((500000, 4300000, 520000, 4315000), "EPSG:32648"),
    ((-180, -90, 180, 90), "EPSG:4326"),
    ((-20037508, -10000000, 20037508, 10000000), "EPSG:3857"),
])
def test_matching_units_pass(bounds, crs):
    bounds_in_crs_units(bounds, crs)


def test_units_rasterize_names_the_bounds(tmp_path, capsys):
    assert main(["units", "rasterize", str(tmp_path / "none.gpkg"), "--code-field", "code", "--out", str(tmp_path / "z.tif"), "--bounds", "104", "38.8",
                 "104.2", "39", "--resolution", "250", "--crs", "EPSG:32648"]) == 2
    err = capsys.readouterr().err
    assert "--bounds" in err and "look like degrees" in err and "gdaltransform" in err
