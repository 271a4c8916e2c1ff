"""Measurement: the water layer of the three Flathead Level-1 epochs (../shared/data/landsat: 1997 TM and 2007
ETM+ screened spectrally, 2015 OLI with its BQA), as `irrmap water mask` and `irrmap water bodies` make them.

Per epoch (default method): the clear share of the grid, the water share of the clear area, the unknown area
(cloud, shadow, snow, fill: reported, never guessed), the bodies of >= 3,125 m2 and the largest with the
unknown area along each (irrmap.mapping.water.summary.epoch_summary). Per method: on the pixels clear in all
three epochs, the share where the three water maps agree (the issue asks >= 95 % for the default), and the
water share of each epoch's clear area. Prints tables and writes benchmarks/results/flathead_water.json.

    python benchmarks/flathead_water.py [--workdir /tmp/flathead_water]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LANDSAT = ROOT.parent / "shared" / "data" / "landsat"
EPOCHS = {"1997": "flathead_lt5_19970602", "2007": "flathead_le7_20070505", "2015": "flathead_lc8_20150604"}
METHODS = [("ndwi", "ndwi"), ("mndwi", "mndwi"), ("awei_nsh", "awei_nsh"), ("awei_sh", "awei_sh"), ("dswe", "ndwi"),
           ("otsu", "ndwi"), ("otsu", "mndwi")]


def main() -> None:
    import geopandas as gpd

    from irrmap.mapping.water.bodies import bodies_to_files
    from irrmap.mapping.water.classify import UNKNOWN, WATER
    from irrmap.mapping.water.mask import epoch_mask, mask_layers, read_scenes, write_mask
    from irrmap.mapping.water.summary import epoch_summary

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/flathead_water"))
    args = ap.parse_args()
    scenes = {e: read_scenes([LANDSAT / f]) for e, f in EPOCHS.items()}
    out = {"epochs": {}, "methods": []}
    for method, index in METHODS:
        maps = {}
        for e, sc in scenes.items():
            path = write_mask(args.workdir / f"{method}_{index}_{e}.tif", epoch_mask(sc, method=method, index=index), scenes=[EPOCHS[e]])
            maps[e] = mask_layers(path)["water"].values
            if (method, index) == METHODS[0]:
                files = bodies_to_files(mask_layers(path)["water"], args.workdir / f"bodies_{e}")
                s = epoch_summary(files["water"], gpd.read_parquet(files["bodies_parquet"]))
                out["epochs"][e] = {k: s[k] for k in ("area_km2", "clear_share", "water_share_of_clear", "water_km2", "unknown_km2",
                                                      "n_bodies", "bodies_km2")} | {"largest": s["largest"][:4]}
        clear = np.all([m != UNKNOWN for m in maps.values()], axis=0)
        a, b, c = maps.values()
        out["methods"].append({"method": method if method != "otsu" else f"otsu on {index}", "clear_in_all": float(clear.mean()),
                               "agreement": float(((a == b) & (b == c))[clear].mean()),
                               "water_share_of_clear": {e: float((m == WATER).sum() / max((m != UNKNOWN).sum(), 1)) for e, m in maps.items()}})
    print(f"{'epoch':>6} {'clear %':>8} {'water % of clear':>17} {'unknown km2':>12} {'bodies':>7}  largest km2 (unknown along)")
    for e, s in out["epochs"].items():
        big = ", ".join(f"{b['area_km2']:.3f} ({b['unknown_km2']:.3f})" for b in s["largest"])
        print(f"{e:>6} {100 * s['clear_share']:>8.1f} {100 * s['water_share_of_clear']:>17.1f} {s['unknown_km2']:>12.1f} {s['n_bodies']:>7}  {big}")
    print(f"\n{'method':>16} {'agreement %':>12}  water % of clear (1997 / 2007 / 2015), on {100 * out['methods'][0]['clear_in_all']:.2f} % clear in all")
    for m in out["methods"]:
        print(f"{m['method']:>16} {100 * m['agreement']:>12.1f}  " + " / ".join(f"{100 * v:.1f}" for v in m["water_share_of_clear"].values()))
    (ROOT / "benchmarks" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "benchmarks" / "results" / "flathead_water.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
