"""A land-cover class map without its colour table given where percent tree cover is expected (probe K, findings 1-2).

The old code read Copernicus LC100 codes 40 (cropland) and 50 (built-up) as 40 % and 50 % cover and dropped the
forest classes 111..126 as "missing", with a warning suggesting to declare them --nodata; `treecover trend` ran no
code-layer check at all and wrote slopes of class codes. Now irrmap.mapping.treecover.codes refuses a class map by its
values too (few distinct whole values, codes above 100 that are no MODIS VCF flag on >= 5 % of the pixels), in
change, trend and check_percent (fit / predict references, truth). Counts in the messages are checked against numpy on
the whole raster (64 x 64 rasters are sampled without decimation). Controls: Hansen-like 0..100 cover and MODIS
VCF-like cover with 200 water, 253 fill and resampling blends at their edges pass (on the old code too).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

from irrmap.app.cli import main
from irrmap.core.errors import InputError
from irrmap.mapping.treecover.percent import check_percent

T = Path("/work/shared/data/treecover")
LC100 = [T / f"W080N20_LC100_v3.0.1_{y}.tif" for y in range(2015, 2020)]
need_lc100 = pytest.mark.skipif(not all(p.is_file() for p in LC100), reason="Copernicus LC100 tiles not available")

FOREST = [111, 112, 114, 115, 116, 121, 122, 124, 126]  # LC100 closed / open forest codes (LC100 PUM legend)
OTHER = [20, 30, 40, 50]  # shrubs, herbaceous, cropland, built-up


def _write(path: Path, data: np.ndarray, nodata=255) -> Path:
    profile = dict(driver="GTiff", width=data.shape[1], height=data.shape[0], count=1, dtype="uint8", nodata=nodata,
                   crs="EPSG:32636", transform=from_origin(500000, 1000000, 30, 30))
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data.astype("uint8"), 1)
    return path


def _classes(seed: int, forest_share: float = 0.8) -> np.ndarray:
    rng = np.random.default_rng(seed)
    forest = rng.random((64, 64)) < forest_share
    return np.where(forest, rng.choice(FOREST, (64, 64)), rng.choice(OTHER, (64, 64)))


def _hansen_like(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 101, (64, 64))


def _vcf_like(seed: int) -> np.ndarray:
    """Cover 0..85 with a water block (200), a fill strip (253) and bilinear-like blends (101..199) along the water edge."""
    a = np.random.default_rng(seed).integers(0, 86, (64, 64))
    a[40:, 40:] = 200
    a[:, :3] = 253
    a[39, 40:] = np.linspace(110, 190, 24).round()
    return a


def _change(tmp_path, a, b, *extra):
    return main(["-q", "treecover", "change", str(tmp_path / "c.tif"), str(a), str(b), "--table", str(tmp_path / "c.csv"), *extra])


def _trend(tmp_path, files):
    return main(["-q", "treecover", "trend", str(tmp_path / "t.tif"), *map(str, files), "--min-years", "5"])


def _series(tmp_path, make, stem="lc") -> list[Path]:
    return [_write(tmp_path / f"{stem}_{2015 + i}.tif", make(i)) for i in range(5)]


def test_class_codes_without_palette_refused_in_change(tmp_path, capsys):
    a = _classes(1)
    pa = _write(tmp_path / "lc2015.tif", a)
    pb = _write(tmp_path / "lc2019.tif", _classes(2))
    assert _change(tmp_path, pa, pb) == 2  # old code: rc 0, 40 and 50 read as percent cover
    err = capsys.readouterr().err
    codes, counts = np.unique(a, return_counts=True)
    n112 = int(counts[codes == 112][0])
    assert "lc2015.tif" in err and "EPOCH_A" in err and "class codes" in err and "Traceback" not in err
    assert f"112 closed forest (evergreen broad leaf) x {n112}" in err  # pixel counts: numpy on the whole raster
    assert "Tree-CoverFraction" in err and "gdal_calc.py" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "c.tif").exists() and not (tmp_path / "c.csv").exists()


def test_class_codes_refused_even_when_declared_nodata(tmp_path, capsys):
    """Following the old warning (--nodata 255 111 ... 126) must not turn the class map into cover."""
    pa = _write(tmp_path / "lc2015.tif", _classes(1))
    pb = _write(tmp_path / "lc2019.tif", _classes(2))
    assert _change(tmp_path, pa, pb, "--nodata", "255", *map(str, FOREST)) == 2
    assert "class codes" in capsys.readouterr().err


def test_class_codes_without_palette_refused_in_trend(tmp_path, capsys):
    files = _series(tmp_path, lambda i: _classes(10 + i))
    assert _trend(tmp_path, files) == 2  # old code: rc 0, Theil-Sen slopes of class codes
    err = capsys.readouterr().err
    assert "lc_2015.tif" in err and "SERIES" in err and "class codes" in err
    assert not (tmp_path / "t.tif").exists()


def test_class_codes_refused_as_reference(tmp_path):
    """check_percent (fit's and predict's reference, summary's truth) runs the same check."""
    p = _write(tmp_path / "ref.tif", _classes(3))
    with pytest.raises(InputError, match="the reference holds class codes"):
        check_percent(p, role="the reference", fix="x")


def test_few_class_codes_warned_as_classes_not_nodata(tmp_path, caplog):
    """A class map with forest codes on too few pixels to refuse (2 %): the warning names class codes and does not
    tell to declare them --nodata (the old one blamed blended VCF flags and suggested --nodata 255 111 ...)."""
    pa = _write(tmp_path / "a.tif", _classes(4, forest_share=0.02))
    pb = _write(tmp_path / "b.tif", _classes(5, forest_share=0.02))
    with caplog.at_level(logging.WARNING):
        assert _change(tmp_path, pa, pb) == 0
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "class codes" in text
    assert "--nodata" not in text.replace("which no --nodata", "") and "blended" not in text


@pytest.mark.parametrize("make", [_hansen_like, _vcf_like], ids=["hansen_like", "vcf_like"])
def test_control_percent_maps_pass(tmp_path, make):
    """Controls (pass on the old code too): percent cover, with VCF flags and blends at their edges."""
    pa = _write(tmp_path / "a.tif", make(1))
    pb = _write(tmp_path / "b.tif", make(2))
    assert _change(tmp_path, pa, pb, "--nodata", "255", "200", "253") == 0
    check_percent(pa, role="the reference", fix="x")
    assert _trend(tmp_path, _series(tmp_path, lambda i: make(20 + i), stem="cover")) == 0


@need_lc100
def test_real_lc100_without_palette_refused(tmp_path, capsys):
    """The real LC100 tile (a 200 x 200 window) with its colour table stripped, in change and trend."""
    files = []
    for src_path in LC100:
        with rasterio.open(src_path) as src:
            w = Window(0, 0, min(200, src.width), min(200, src.height))
            data = src.read(1, window=w)
            profile = dict(driver="GTiff", width=w.width, height=w.height, count=1, dtype=src.dtypes[0], nodata=src.nodata,
                           crs=src.crs, transform=src.window_transform(w))
        out = tmp_path / f"lc_{src_path.stem[-4:]}.tif"
        with rasterio.open(out, "w", **profile) as dst:  # no colormap written
            dst.write(data, 1)
        with rasterio.open(out) as chk:
            with pytest.raises(ValueError):
                chk.colormap(1)
        files.append(out)
    assert _change(tmp_path, files[0], files[-1]) == 2
    err = capsys.readouterr().err
    assert "lc_2015.tif" in err and "class codes" in err and "Copernicus LC100" in err
    assert _trend(tmp_path, files) == 2
    assert "class codes" in capsys.readouterr().err


@need_lc100
def test_real_lc100_with_palette_refused_in_trend(tmp_path, capsys):
    """The trend ran no code-layer check: the LC100 tiles with their colour tables gave slopes of class codes."""
    assert _trend(tmp_path, LC100) == 2
    err = capsys.readouterr().err
    assert "colour table" in err and "W080N20_LC100_v3.0.1_2015.tif" in err
