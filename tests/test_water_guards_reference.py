"""[water].reference: codes other than 0 / 1 / 255 are refused (the check `irrmap water bodies` makes), an
irrmap 3-band mask.tif is read by its 'water' band, the errors name [water].reference, and the threshold
errors of `irrmap water mask` name the options."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine

from irrmap.core.errors import ConfigError, DataError
from irrmap.core.grid import Grid
from irrmap.mapping.water.composite import check_thresholds
from irrmap.mapping.water.score import check_reference, read_reference, reference_band

GRID = Grid("EPSG:32611", Affine(30, 0, 700000, 0, -30, 5300000), 20, 30)


def _write(path, bands, descriptions=None, nodata=255):
    bands = np.asarray(bands)
    bands = bands[None] if bands.ndim == 2 else bands
    with rasterio.open(path, "w", driver="GTiff", height=GRID.height, width=GRID.width, count=len(bands), dtype="uint8",
                       crs=GRID.crs, transform=GRID.transform, nodata=nodata) as dst:
        dst.write(bands)
        for i, d in enumerate(descriptions or [], start=1):
            dst.set_band_description(i, d)
    return path


def _water():
    w = np.zeros(GRID.shape, np.uint8)
    w[3:9, 4:12] = 1
    w[15:18, 20:25] = 255
    return w


def test_reference_with_other_codes_is_refused_naming_the_setting(tmp_path):
    w = _water()
    path = _write(tmp_path / "ref100.tif", np.where(w == 1, 100, w))  # 0 / 100 / 255
    where = "[water].reference.2015"
    with pytest.raises(DataError, match=r"\[water\]\.reference\.2015: band '1' holds value 100, not a water mask code \(0, 1, 255\)"):
        check_reference(path, where=where)
    with pytest.raises(DataError, match=r"\[water\]\.reference\.2015.*value 100"):
        read_reference(path, GRID, where=where).values
    ok = _write(tmp_path / "ok.tif", w)
    check_reference(ok, where=where)
    np.testing.assert_array_equal(read_reference(ok, GRID).values, w)


def test_own_three_band_mask_is_read_by_its_water_band(tmp_path):
    w = _water()
    detection = np.where(w == 1, 0, w)  # differs from band 1 where water
    persistence = np.where(w == 1, 2, w)  # seasonal: a code 2 that band 1 never holds
    path = _write(tmp_path / "mask.tif", [w, detection, persistence], ["water", "detection", "persistence"])
    assert reference_band(path) == 1
    check_reference(path)
    np.testing.assert_array_equal(read_reference(path, GRID).values, w)
    # the band described 'water' wins when it is not band 1
    moved = _write(tmp_path / "moved.tif", [persistence, w], ["persistence", "water"])
    assert reference_band(moved) == 2
    np.testing.assert_array_equal(read_reference(moved, GRID).values, w)


def test_stage_check_names_the_reference_setting(tmp_path):
    """The water stage's --check hook runs check_reference on every reference, each error naming the setting."""
    from types import SimpleNamespace

    from irrmap.app.stages.water import _reference_checks
    from irrmap.core.errors import gather

    bad = _write(tmp_path / "bad.tif", np.full(GRID.shape, 93, np.uint8))
    missing = tmp_path / "missing.tif"
    sec = SimpleNamespace(reference={"2015": bad, "2020": missing})
    ctx = SimpleNamespace(config=SimpleNamespace(water=sec), path=lambda p: p)
    errors = gather(*_reference_checks(ctx))
    assert len(errors) == 2
    assert str(errors[0]).startswith(f"[water].reference.2015 ({bad}): band '1' holds value 93")
    assert str(errors[1]).startswith("[water].reference.2020")


@pytest.mark.parametrize("kw, option", [({"extent": 0.5}, "--extent"), ({"detection": 1.5}, "--detection"),
                                        ({"min_clear": 0}, "--min-clear"), ({"permanent": 0.0}, "--permanent"),
                                        ({"extent": float("nan")}, "--extent"), ({"min_clear": 3}, "--min-clear")])
def test_threshold_errors_name_the_option(kw, option):
    rules = {"detection": 0.10, "extent": 0.05, "permanent": 1.0, "min_clear": 1} | kw
    names = {k: f"--{k.replace('_', '-')}" for k in rules}
    with pytest.raises(ConfigError) as exc:
        check_thresholds(**rules, n_scenes=2, names=names)
    assert exc.value.where.split(" / ")[0] == option and "epoch_composite" not in str(exc.value)
