"""Reference points: a stratified random sample of crop pixels with labels and a small label-noise rate.

Population: crop pixels (cropland fraction >= MIN_CROP). Label: irrigated when the truth irrigated share of
the pixel's cropland is >= 0.5. Strata: climate zones, 'arid' (P/PET <= 0.5) and 'humid', which the pipeline
may know (unlike the labels), so the inclusion probabilities do not leak the truth. Each pixel carries a hashed uniform u(seed, row, col); a pixel of stratum h
is sampled when u < n_h / N_h, a Poisson sample with known inclusion probability n_h / N_h (recorded per
point, for area estimation). Two streaming passes: count the strata, then select. Labels flip with
probability LABEL_NOISE (hashed too); the noise-free labels go to truth/.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio

from irrmap.app.demo.noise import hash_uniform
from irrmap.app.demo.spec import DemoSpec

MIN_CROP, LABEL_NOISE = 0.3, 0.03


def _strata(t, c, p, e, w):
    f_irr = np.nan_to_num(t.read(1, window=w).astype(np.float64))
    f_crop = np.nan_to_num(c.read(1, window=w).astype(np.float64))
    arid = p.read(1, window=w) <= 0.5 * e.read(1, window=w)
    crop = f_crop >= MIN_CROP
    irrigated = crop & (f_irr >= 0.5 * f_crop)
    return crop, arid, irrigated, f_irr, f_crop


def sample_points(spec: DemoSpec, truth_path, crop_path, precip_path, pet_path, n_per_stratum: int | None = None):
    """(points GeoDataFrame with noisy labels, truth DataFrame)."""
    grid = spec.grid
    n_target = n_per_stratum or int(np.clip(spec.rows * spec.cols / 2000, 60, 2000))
    counts = np.zeros(2)
    with rasterio.open(truth_path) as t, rasterio.open(crop_path) as c, rasterio.open(precip_path) as pp, rasterio.open(pet_path) as ee:
        for tile in grid.tiles(1024):
            crop, arid, _, _, _ = _strata(t, c, pp, ee, tile.window)
            counts += [np.sum(crop & ~arid), np.sum(crop & arid)]
        prob = np.minimum(1.0, n_target / np.maximum(counts, 1))
        recs = []
        for tile in grid.tiles(1024):
            w = tile.window
            crop, arid, irr, f_irr, f_crop = _strata(t, c, pp, ee, w)
            r0, c0 = int(w.row_off), int(w.col_off)
            rows = np.arange(r0, r0 + int(w.height))[:, None]
            cols = np.arange(c0, c0 + int(w.width))[None, :]
            u = hash_uniform(spec.seed, 500, cols, rows)
            p = np.where(arid, prob[1], prob[0])
            sel = crop & (u < p)
            rr, cc = np.nonzero(sel)
            if len(rr) == 0:
                continue
            flip = hash_uniform(spec.seed, 501, cc + c0, rr + r0) < LABEL_NOISE
            true = irr[rr, cc].astype(int)
            recs.append(pd.DataFrame({
                "row": rr + r0, "col": cc + c0, "stratum": np.where(arid[rr, cc], "arid", "humid"),
                "inclusion_prob": p[rr, cc], "stratum_size": np.where(arid[rr, cc], counts[1], counts[0]), "true_label": true, "label": np.where(flip, 1 - true, true),
                "flipped": flip, "truth_irrigated_fraction": f_irr[rr, cc], "crop_fraction": f_crop[rr, cc],
            }))
    df = pd.concat(recs, ignore_index=True) if recs else pd.DataFrame(columns=["row", "col"])
    df = df.sort_values(["row", "col"], kind="stable").reset_index(drop=True)
    df.insert(0, "id", np.arange(1, len(df) + 1))
    lon = grid.transform.c + grid.transform.a * (df["col"].to_numpy() + 0.5)
    lat = grid.transform.f + grid.transform.e * (df["row"].to_numpy() + 0.5)
    df["lon"], df["lat"] = lon, lat
    points = gpd.GeoDataFrame(df[["id", "lon", "lat", "label", "stratum", "inclusion_prob", "stratum_size"]].assign(
        label_name=np.where(df["label"] == 1, "irrigated", "rainfed")), geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    truth = df[["id", "lon", "lat", "row", "col", "true_label", "label", "flipped", "truth_irrigated_fraction", "crop_fraction"]]
    return points, truth
