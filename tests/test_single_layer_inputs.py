"""Commands that read one layer of a file refuse a file of several undescribed layers instead of reading band 1:
`water bodies` on a two-date water stack, `treecover change` on a two-epoch cover stack (the probe's Hansen file with
cover 2000 and 2010 as bands 1 and 2 gave a change of 0.0 and 0 m2 of loss, silently)."""

from __future__ import annotations

import numpy as np
import rasterio
from rasterio.transform import from_origin

from irrmap.app.cli import main


def _write(path, bands, descriptions=None, nodata=255):
    bands = np.asarray(bands, np.uint8)
    with rasterio.open(path, "w", driver="GTiff", height=bands.shape[1], width=bands.shape[2], count=bands.shape[0],
                       dtype="uint8", crs="EPSG:32611", transform=from_origin(500000, 5000000, 30, 30), nodata=nodata) as dst:
        dst.write(bands)
        if descriptions:
            dst.descriptions = tuple(descriptions)
    return path


def _mask(seed):
    rng = np.random.default_rng(seed)
    return (rng.uniform(size=(20, 20)) > 0.7).astype(np.uint8)


def test_water_bodies_refuse_a_two_date_stack(tmp_path, capsys):
    path = _write(tmp_path / "water2b.tif", [_mask(1), _mask(2)])
    assert main(["-q", "water", "bodies", str(tmp_path / "out"), str(path)]) == 2
    err = capsys.readouterr().err
    assert "the file has 2 layers" in err and "band(s) 2 are neither" in err and "gdal_translate -b N" in err


def test_water_bodies_read_a_mask_file_with_described_bands(tmp_path):
    # the layout `irrmap water mask` writes: water, detection, persistence (codes 0, 1, 2)
    path = _write(tmp_path / "mask.tif", [_mask(1), _mask(1), _mask(1) * 2], ["water", "detection", "persistence"])
    assert main(["-q", "water", "bodies", str(tmp_path / "out"), str(path)]) == 0
    # and a single-band 0/1 mask
    assert main(["-q", "water", "bodies", str(tmp_path / "out1"), str(_write(tmp_path / "one.tif", [_mask(3)]))]) == 0


def _cover(seed):
    return np.random.default_rng(seed).integers(0, 101, (20, 20))


def test_treecover_change_refuses_a_two_epoch_stack(tmp_path, capsys):
    a = _write(tmp_path / "a.tif", [_cover(1)])
    both = _write(tmp_path / "both.tif", [_cover(1), _cover(2)], ["cover2000", "cover2010"])
    assert main(["-q", "treecover", "change", str(tmp_path / "c.tif"), str(a), str(both)]) == 2
    err = capsys.readouterr().err
    assert "EPOCH_B has 2 layers" in err and "gdal_translate -b N both.tif cover.tif" in err
    assert not (tmp_path / "c.tif").exists()


def test_treecover_change_reads_band_1_of_predicted_maps(tmp_path):
    """`irrmap treecover predict` writes cover (band 1) and its uncertainty (band 2): band 1 is the epoch."""
    from irrmap.mapping.treecover.change import PREDICTED_COVER
    from irrmap.mapping.treecover.predict import DESCRIPTIONS

    assert PREDICTED_COVER == DESCRIPTIONS[0].casefold()
    a = _write(tmp_path / "a.tif", [_cover(1), _cover(5) // 10], DESCRIPTIONS)
    b = _write(tmp_path / "b.tif", [np.clip(_cover(1) - 40, 0, 100), _cover(6) // 10], DESCRIPTIONS)
    assert main(["-q", "treecover", "change", str(tmp_path / "c.tif"), str(a), str(b)]) == 0
    with rasterio.open(tmp_path / "c.tif") as src:
        assert src.count == 1 and src.read(1).shape == (20, 20)
