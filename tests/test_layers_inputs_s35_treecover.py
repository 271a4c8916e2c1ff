"""Tree-cover inputs read right: fractions 0..1 where percent 0..100 is expected are refused, MODIS VCF flags
blended by resampling are warned about, and an alpha band is a mask, never a date or band.

Truth: values written here (fractions = percent / 100; VCF flags 200 water, 253 fill, MOD44B C6 user guide), the
Theil-Sen slope of scipy.stats.theilslopes, and the Gewata MODIS VCF 2000 (../shared/data/treecover/gewata,
skipped without it), whose 30 m copy holds 101..125 and 220..236: flags blended with cover.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from irrmap.mapping.treecover.change import change_to_file
from irrmap.mapping.treecover.dates import dated_layers
from irrmap.mapping.treecover.percent import check_percent, warn_blended_flags
from irrmap.mapping.treecover.predictors import open_stack
from irrmap.mapping.treecover.trend import trend_to_file
from rasterio.enums import ColorInterp
from scipy.stats import theilslopes

from irrmap.app.cli import main
from irrmap.core.errors import DataError, InputError

GEWATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "treecover" / "gewata"
T = Affine(30, 0, 800000, 0, -30, 850000)


def write(path, bands, dtype="float32", descriptions=None, alpha=None, nodata=None):
    bands = [np.asarray(b) for b in bands]
    count = len(bands) + (alpha is not None)
    with rasterio.open(path, "w", driver="GTiff", width=bands[0].shape[1], height=bands[0].shape[0], count=count, dtype=dtype,
                       crs="EPSG:32636", transform=T, nodata=nodata) as dst:
        for i, b in enumerate(bands, start=1):
            dst.write(b.astype(dtype), i)
            if descriptions:
                dst.set_band_description(i, descriptions[i - 1])
        if alpha is not None:
            dst.write(alpha.astype(dtype), count)
    if alpha is not None:  # the last band is the alpha band (GDAL colour interpretation Alpha)
        with rasterio.open(path, "r+") as dst:
            dst.colorinterp = [ColorInterp.gray] * len(bands) + [ColorInterp.alpha]
    return path


def percent_cover(seed=0, shape=(40, 40)):
    return np.random.default_rng(seed).uniform(5, 95, shape).round(1)


# ---- fractions where percent is expected ----------------------------------------------------------------------
def test_change_refuses_an_epoch_in_fractions(tmp_path):
    # before: B read as percent 0.05..0.95: every forest pixel of A "lost" (Gewata VCF vs VCF / 100: forest 1,252 km2 -> 0).
    # Cover 2, 7, 12, ... in A and 4, 9, 14, ... in B: no value at the 30 % forest threshold and no change of exactly 10
    # points, so fractions x 100 (float rounding) give the same classes as the percent values
    rng = np.random.default_rng(1)
    pa, pb = 5 * rng.integers(0, 19, (40, 40)) + 2.0, 5 * rng.integers(0, 19, (40, 40)) + 4.0
    a = write(tmp_path / "a.tif", [pa])
    b = write(tmp_path / "b.tif", [pb / 100])
    with pytest.raises(DataError, match="EPOCH_B holds fractions"):
        change_to_file(tmp_path / "c.tif", a, b)
    # both in fractions with --scale 100: read as percent, no refusal; classes as for the percent epochs
    a2 = write(tmp_path / "a2.tif", [pa / 100])
    change_to_file(tmp_path / "c2.tif", a2, b, scale=100)
    change_to_file(tmp_path / "c3.tif", a, write(tmp_path / "b3.tif", [pb]))
    with rasterio.open(tmp_path / "c2.tif") as x, rasterio.open(tmp_path / "c3.tif") as y:
        np.testing.assert_array_equal(x.read(1), y.read(1))


def test_cli_change_fraction_epoch_is_one_line_exit_2(tmp_path, capsys):
    a = write(tmp_path / "a.tif", [percent_cover(1)])
    b = write(tmp_path / "b.tif", [percent_cover(2) / 100])
    assert main(["treecover", "change", str(tmp_path / "c.tif"), str(a), str(b)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "fractions" in err[0] and "--scale 100" in err[0]


def test_fraction_check_keeps_percent_and_flags(tmp_path):
    pct = percent_cover(3)
    pct[0, :5] = 200  # VCF water
    vals = check_percent(write(tmp_path / "p.tif", [pct]), role="r", fix="f")
    assert vals.max() == 200
    frac = pct / 100  # flags divided too: 2.0, still refused (99th percentile of the cover values <= 1)
    with pytest.raises(DataError, match="fractions"):
        check_percent(write(tmp_path / "f.tif", [frac]), role="the reference", fix="f")


def test_fit_refuses_a_fraction_reference(tmp_path):
    from irrmap.mapping.treecover.fit import fit_treecover

    rng = np.random.default_rng(8)
    bands = [write(tmp_path / f"b{i}.tif", [rng.uniform(0.01, 0.4, (40, 40))]) for i in range(3)]
    ref = write(tmp_path / "ref.tif", [percent_cover(4) / 100])
    stack = open_stack(bands, band_names=["red", "nir", "swir2"])
    with pytest.raises(DataError, match="reference holds fractions"):
        fit_treecover(stack, ref, workdir=tmp_path / "model")


# ---- VCF flags blended by resampling --------------------------------------------------------------------------
def test_blended_vcf_flags_are_warned_about(tmp_path, caplog):
    pct = percent_cover(5)
    pct[0, :3] = 200  # flags as such: no warning
    pct[1, :3] = 253
    clean = write(tmp_path / "clean.tif", [pct])
    with caplog.at_level(logging.WARNING):
        warn_blended_flags(clean, check_percent(clean, role="r", fix="f"), role="r")
    assert "blended" not in caplog.text
    pct[2, :3] = 0.5 * 60 + 0.5 * 200  # 130: cover averaged with water by bilinear resampling
    blended = write(tmp_path / "blended.tif", [pct])
    with caplog.at_level(logging.WARNING):
        warn_blended_flags(blended, check_percent(blended, role="r", fix="f"), role="r")
    assert "blended" in caplog.text and "130" in caplog.text


@pytest.mark.skipif(not GEWATA.is_dir(), reason="../shared/data/treecover/gewata is not there")
def test_gewata_vcf_copy_shows_blended_flags(caplog):
    vcf = GEWATA / "vcfGewata.tif"
    with caplog.at_level(logging.WARNING):
        warn_blended_flags(vcf, check_percent(vcf, role="the reference", fix="f"), role="the reference")
    assert "no MODIS VCF flag code" in caplog.text


# ---- alpha bands are masks ------------------------------------------------------------------------------------
def test_trend_alpha_band_is_a_mask_not_a_date(tmp_path):
    years = [2001, 2003, 2005, 2007, 2009, 2011]
    rng = np.random.default_rng(9)
    series = [50 + 2.0 * (y - 2001) + rng.normal(0, 1, (6, 6)) for y in years]
    alpha = np.full((6, 6), 255)
    alpha[0, 0] = 0  # transparent: no data in any date
    path = write(tmp_path / "s.tif", series, descriptions=[f"cover_{y}" for y in years], alpha=alpha)
    layers = dated_layers([path])
    assert len(layers) == len(years)  # not 7: the alpha band is no date
    out = trend_to_file(tmp_path / "t.tif", layers, min_years=3)
    with rasterio.open(out) as src:
        slope = src.read(1)
    assert np.isnan(slope[0, 0])
    t = [y + 0.0 for y in years]  # dated 1 July of each year: equal spacing, so slope per year
    expected = theilslopes([s[3, 4] for s in series], t)[0]
    assert slope[3, 4] == pytest.approx(expected, rel=1e-4)


def test_band_file_alpha_is_a_mask_not_a_second_date(tmp_path):
    # before: a (data, alpha) file was read as two dates of its band: percentiles over the value and 255
    rng = np.random.default_rng(10)
    alpha = np.full((8, 8), 255)
    alpha[2, 3] = 0
    data = [rng.uniform(0.01, 0.4, (8, 8)) for _ in range(3)]
    paths = [write(tmp_path / f"b{i}.tif", [d], alpha=alpha) for i, d in enumerate(data)]
    stack = open_stack(paths, band_names=["red", "nir", "swir2"])
    assert stack.n_dates == 1 and stack.features[:3] == ["red", "nir", "swir2"]
    values = stack.read(8).compute()
    assert values.shape == (3, 1, 8, 8)
    assert np.isnan(values[:, 0, 2, 3]).all()
    np.testing.assert_allclose(values[1, 0, 5, 5], data[1][5, 5], rtol=1e-6)


def test_trend_refuses_one_scene_twice(tmp_path):
    # before: the repeated scene counted twice in the Theil-Sen slope (only a warning about shared dates)
    ids = ["LE71700551999255AGS00", "LE71700552000114SGS00", "LE71700552001180SGS00", "LE71700552002151SGS00",
           "LE71700552002151SGS00"]
    path = write(tmp_path / "s.tif", [np.full((4, 4), float(i)) for i in range(len(ids))], descriptions=ids)
    with pytest.raises(InputError, match="one acquisition"):
        dated_layers([path])
    assert len(dated_layers([write(tmp_path / "ok.tif", [np.ones((4, 4))] * 4, descriptions=ids[:4])])) == 4
