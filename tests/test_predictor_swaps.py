"""Two look-alike predictors given under each other's names (mapping.map_swaps.check_swaps).

Hand-computed case: pool NDVI ~ U(0.30, 0.90) (1st..99th percentiles 0.306..0.894), pool EVI ~ U(0.25, 0.80)
(0.2555..0.7945). Exchanged on the map, the map's "ndvi" ~ U(0.25, 0.80) lies (0.306 - 0.25) / 0.55 = 10.2 % below
NDVI's p01 and the map's "evi" ~ U(0.30, 0.90) (0.90 - 0.7945) / 0.60 = 17.6 % above EVI's p99: each under
map_shift's refusal share (25 %), so the old code only warned and mapped from the wrong inputs. Against each other's
pool they lie about 2 % outside, hence refused. A region shifted down 10 % in both (drier) fits its own pools better
in one direction (its EVI lies (0.306 - 0.225) / 0.495 = 16.4 % outside NDVI's pool), hence passes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
from irrmap.mapping.map_shift import MapTally
from irrmap.mapping.map_swaps import check_swaps, share_outside
from irrmap.models import fit_from_pool, save_model
from rasterio.transform import from_origin

from irrmap.app.cli import main
from irrmap.core.errors import DataError

N = 200_000
LIMITS = {0: (0.306, 0.894, 0.30, 0.90), 1: (0.2555, 0.7945, 0.25, 0.80)}  # ndvi, evi: p01, p99, min, max
NAMES = ["ndvi", "evi"]


def _tally(ndvi_lohi, evi_lohi, seed=0) -> MapTally:
    rng = np.random.default_rng(seed)
    t = MapTally(LIMITS)
    t.add(np.column_stack([rng.uniform(*ndvi_lohi, N), rng.uniform(*evi_lohi, N)]).astype(np.float32), 1)
    return t


def test_exchanged_look_alikes_are_refused_with_hand_shares():
    t = _tally((0.25, 0.80), (0.30, 0.90))
    own = (t.counts[:, 1] + t.counts[:, 2]) / t.counts[:, 0]
    assert own[0] == pytest.approx(0.056 / 0.55, abs=0.005) and own[1] == pytest.approx(0.1055 / 0.60, abs=0.005)
    # against the other's pool: U(0.25, 0.80) outside [0.2555, 0.7945] = 0.011 / 0.55 = 2 %, interpolated in bins of 2.3 %
    assert share_outside(t, 0, *LIMITS[1][:2]) == pytest.approx(0.011 / 0.55, abs=0.003)
    assert share_outside(t, 1, *LIMITS[0][:2]) == pytest.approx(0.012 / 0.60, abs=0.003)
    with pytest.raises(DataError) as e:
        check_swaps(t, NAMES)
    assert "ndvi and evi look exchanged" in str(e.value)


@pytest.mark.parametrize("ndvi, evi", [((0.30, 0.90), (0.25, 0.80)),  # the right inputs
                                       ((0.27, 0.81), (0.225, 0.72))])  # a drier region: both 10 % lower
def test_own_or_shifted_inputs_pass(ndvi, evi):
    check_swaps(_tally(ndvi, evi), NAMES)


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
