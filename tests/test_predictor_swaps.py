"""Two look-alike predictors given under each other's names (mapping.map_swaps.check_swaps).

Hand-computed case: pool NDVI ~ U(0.30, 0.90) (1st, 50th, 99th percentiles 0.306, 0.60, 0.894), pool EVI ~
U(0.25, 0.80) (0.2555, 0.525, 0.7945). Exchanged on the map, the map's "ndvi" ~ U(0.25, 0.80) lies (0.306 - 0.25) /
0.55 = 10.2 % below NDVI's p01 and the map's "evi" (0.90 - 0.7945) / 0.60 = 17.6 % above EVI's p99: each under
map_shift's refusal share (25 %), so the old code only warned and mapped from the wrong inputs. Its distance to its
own pool, max |quantile difference| / pool span, is 0.0995 / 0.588 = 0.169, to EVI's pool 0 (histogram bins: < 0.02),
and the same the other way, hence refused. Controls: a region 10 % lower in both (drier) is 0.129 from the other's
pool in one direction; the probe's false alarm (one predictor of a subregion shifted, its partner's pool wide enough
to hold it: refused by the first, containment rule) is 0.167 from the other's pool.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
from irrmap.mapping.map_shift import MapTally
from irrmap.mapping.map_swaps import check_swaps, pool_distance
from irrmap.models import fit_from_pool, save_model
from rasterio.transform import from_origin

from irrmap.app.cli import main
from irrmap.core.errors import DataError

N = 200_000
NAMES = ["ndvi", "evi"]


def _uniform_pool(lo, hi):
    """(p01, p99, min, max) and the median of U(lo, hi)."""
    return (lo + 0.01 * (hi - lo), lo + 0.99 * (hi - lo), lo, hi), (lo + hi) / 2


def _tally(pools, maps, seed=0):
    """A whole-map tally of predictors drawn from U(*maps[i]), judged against the uniform pools U(*pools[i])."""
    rng = np.random.default_rng(seed)
    limits = {i: _uniform_pool(*p)[0] for i, p in enumerate(pools)}
    medians = {i: _uniform_pool(*p)[1] for i, p in enumerate(pools)}
    t = MapTally(limits)
    t.add(np.column_stack([rng.uniform(*m, N) for m in maps]).astype(np.float32), 1)
    return t, medians


POOLS = [(0.30, 0.90), (0.25, 0.80)]


def test_exchanged_look_alikes_are_refused_with_hand_distances():
    t, med = _tally(POOLS, [(0.25, 0.80), (0.30, 0.90)])
    own = (t.counts[:, 1] + t.counts[:, 2]) / t.counts[:, 0]
    assert own[0] == pytest.approx(0.056 / 0.55, abs=0.005) and own[1] == pytest.approx(0.1055 / 0.60, abs=0.005)
    ndvi_pool, evi_pool = (0.306, 0.60, 0.894), (0.2555, 0.525, 0.7945)
    # quantiles are histogram bin centres: within 1.2 % of 0.79, 0.0095, i.e. 0.016 of the span
    assert pool_distance(t, 0, ndvi_pool) == pytest.approx(0.0995 / 0.588, abs=0.02)
    assert pool_distance(t, 0, evi_pool) < 0.02 and pool_distance(t, 1, ndvi_pool) < 0.02
    with pytest.raises(DataError) as e:
        check_swaps(t, NAMES, med)
    assert "ndvi and evi look exchanged" in str(e.value)


@pytest.mark.parametrize("pools, maps", [
    (POOLS, [(0.30, 0.90), (0.25, 0.80)]),  # the right inputs
    (POOLS, [(0.27, 0.81), (0.225, 0.72)]),  # a drier region: both 10 % lower
    ([(0.0, 1.0), (0.2, 0.8)], [(0.3, 0.7), (0.3, 0.9)]),  # the probe's false alarm: a subregion, one predictor shifted
])
def test_own_or_shifted_inputs_pass(pools, maps):
    t, med = _tally(pools, maps)
    check_swaps(t, NAMES, med)


def _write(path, arr):
    with rasterio.open(path, "w", driver="GTiff", height=arr.shape[0], width=arr.shape[1], count=1, dtype="float32",
                       crs="EPSG:4326", transform=from_origin(100.0, 41.0, 0.01, 0.01)) as dst:
        dst.write(arr.astype(np.float32), 1)
    return str(path)


def test_mapping_predict_refuses_exchanged_files(tmp_path, capsys):
    rng = np.random.default_rng(5)
    h, w = 60, 80
    ndvi, evi = rng.uniform(0.30, 0.90, (h, w)), rng.uniform(0.25, 0.80, (h, w))
    label = ((ndvi > 0.6) & (evi > 0.5)).astype(np.uint8)
    rows, cols = np.nonzero(np.ones((h, w), bool))
    pool = pd.DataFrame({"unit": "650101", "zone": 1, "label": label[rows, cols], "row": rows, "col": cols,
                         "ndvi": ndvi[rows, cols], "evi": evi[rows, cols]})
    model, card = fit_from_pool(pool, model="rf", scope="global", features=["ndvi", "evi"], seed=0, cv_blocks=None)
    save_model(model, tmp_path / "m.joblib", card)
    f = {"ndvi": _write(tmp_path / "ndvi.tif", ndvi), "evi": _write(tmp_path / "evi.tif", evi),
         "crop": _write(tmp_path / "crop.tif", np.full((h, w), 0.5))}

    def predict(out, ndvi_file, evi_file):
        return main(["-q", "mapping", "predict", str(tmp_path / "m.joblib"), "--cropland", f["crop"], "--predictor",
                     f"ndvi={ndvi_file}", "--predictor", f"evi={evi_file}", "--out", str(tmp_path / out), "--jobs", "1"])

    assert predict("right", f["ndvi"], f["evi"]) == 0  # control
    capsys.readouterr()
    assert predict("swapped", f["evi"], f["ndvi"]) == 2
    err = capsys.readouterr().err
    assert "look exchanged" in err and "Traceback" not in err
    assert not (tmp_path / "swapped" / "class.tif").exists()
