"""A scene stack (irrmap.sources.stack: one multi-band GeoTIFF with common band names, as the water layer reads)
as the tree-cover bands: the same features, fit and map as the same bands in one file each; a QA layer is left
out; a stack with its bands in another order is refused by a model fitted on the other order."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio

from irrmap.app.cli import main
from tests.treecover_synthetic import NAMES, bands_from_cover, block_mean, cover_field, write


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    d = tmp_path_factory.mktemp("tc_stack")
    cover = cover_field((64, 96), 5)
    bands = bands_from_cover(cover, 6)
    singles = [write(d / f"b_{n}.tif", bands[n], descriptions=[n]) for n in NAMES]
    qa = np.zeros(cover.shape, np.float32)
    stack = write(d / "stack.tif", np.stack([bands[n] for n in NAMES] + [qa]), descriptions=[*NAMES, "QA_PIXEL"])
    shuffled = write(d / "shuffled.tif", np.stack([bands[n] for n in NAMES[::-1]]), descriptions=list(NAMES[::-1]))
    ref = write(d / "ref.tif", block_mean(cover, 8).astype(np.float32), res=240.0)
    return d, singles, stack, shuffled, ref


def test_stack_features_equal_single_band_files(scene):
    from irrmap.mapping.treecover.predictors import open_stack

    _, singles, stack, _, _ = scene
    a, b = open_stack(singles), open_stack([stack])
    assert b.names == tuple(NAMES) and b.layers == (1, 2, 3, 4, 5, 6) and b.features == a.features
    np.testing.assert_array_equal(b.feature_array(32).compute(), a.feature_array(32).compute())


def test_stack_fit_and_map_equal_single_band_files(scene, capsys):
    d, singles, stack, shuffled, ref = scene
    common = ["--reference", str(ref), "--cv-blocks", "960", "--cv-splits", "3", "--trees", "10"]
    assert main(["-q", "treecover", "fit", str(d / "m1"), "--bands", *map(str, singles), *common]) == 0
    assert main(["-q", "treecover", "fit", str(d / "m2"), "--bands", str(stack), *common]) == 0
    c1, c2 = (json.loads((d / m / "model.card.json").read_text()) for m in ("m1", "m2"))
    assert c1["cv"]["model"] == c2["cv"]["model"] and c1["features"] == c2["features"]
    assert c1["estimator_params"]["n_estimators"] == c2["estimator_params"]["n_estimators"] == 10  # --trees
    assert main(["-q", "treecover", "predict", str(d / "p1.tif"), str(d / "m1"), "--bands", *map(str, singles), "--no-check"]) == 0
    assert main(["-q", "treecover", "predict", str(d / "p2.tif"), str(d / "m2"), "--bands", str(stack), "--no-check"]) == 0
    with rasterio.open(d / "p1.tif") as a, rasterio.open(d / "p2.tif") as b:
        np.testing.assert_array_equal(a.read(), b.read())
    capsys.readouterr()
    assert main(["treecover", "predict", str(d / "p3.tif"), str(d / "m2"), "--bands", str(shuffled), "--no-check"]) == 2
    err = capsys.readouterr().err
    assert "band names" in err and err.count("irrmap: error:") == 1


def test_fit_with_one_or_two_jobs_writes_the_same_files(scene):
    """--jobs 1 and --jobs 2 give the same model and the same card, byte for byte: the card recorded the estimator's
    n_jobs (user probe /tmp/probeD, metadata A), the only difference."""
    d, singles, _, _, ref = scene
    common = ["--bands", *map(str, singles), "--reference", str(ref), "--cv-blocks", "960", "--cv-splits", "3", "--trees", "10"]
    for jobs in ("1", "2"):
        assert main(["-q", "treecover", "fit", str(d / f"j{jobs}"), *common, "--jobs", jobs]) == 0
    for name in ("model.joblib", "model.card.json"):
        assert (d / "j1" / name).read_bytes() == (d / "j2" / name).read_bytes(), name
