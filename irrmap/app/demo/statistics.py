"""County irrigation statistics from the truth, with reporting noise, two variants and missing counties.

Truth area of a county = sum over its pixels of truth irrigated fraction x true pixel area (streamed window by
window). Reported values (1000 ha):
- actual    = truth x (1 + e), e ~ N(0, NOISE_SD) clipped to +-NOISE_CLIP (the variant the demo config uses);
- effective = truth x (1 + U(0.05, 0.20)) x (1 + e2), e2 ~ N(0, 0.03): equipped area exceeds what was irrigated.
About MISSING_SHARE of counties are left out of the county table; city and province tables are the totals of
every county's reported value (so they still include the missing counties, as yearbooks do).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import rasterio

from irrmap.app.demo.spec import DemoSpec
from irrmap.core.units import AdminUnits

NOISE_SD, NOISE_CLIP, MISSING_SHARE = 0.05, 0.12, 0.08


def truth_areas(spec: DemoSpec, units: AdminUnits, truth_path, crop_path) -> pd.DataFrame:
    """Per county: truth irrigated area and cropland area (m2), streamed window by window."""
    grid = spec.grid
    zones = units.rasterize(grid, chunks=1024)
    n = len(units)
    irr = np.zeros(n + 1)
    crop = np.zeros(n + 1)
    with rasterio.open(truth_path) as t, rasterio.open(crop_path) as c:
        for tile in grid.tiles(1024):
            w = tile.window
            z = zones[int(w.row_off):int(w.row_off + w.height), int(w.col_off):int(w.col_off + w.width)].values.ravel()
            area = np.asarray(grid.pixel_area(w))
            f_irr = np.nan_to_num(t.read(1, window=w).astype(np.float64))
            f_crop = np.nan_to_num(c.read(1, window=w).astype(np.float64))
            irr += np.bincount(z, weights=(f_irr * area).ravel(), minlength=n + 1)
            crop += np.bincount(z, weights=(f_crop * area).ravel(), minlength=n + 1)
    table = units.zone_table()
    table["truth_irrigated_m2"] = irr[1:]
    table["cropland_m2"] = crop[1:]
    return table


def reported_tables(spec: DemoSpec, truth: pd.DataFrame) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """County, city and province tables (both variants, 1000 ha) and the noise-free truth table."""
    rng = np.random.default_rng([spec.seed, 9001])
    n = len(truth)
    t_kha = truth["truth_irrigated_m2"].to_numpy() / 1e7
    e = np.clip(rng.normal(0, NOISE_SD, n), -NOISE_CLIP, NOISE_CLIP)
    actual = t_kha * (1 + e)
    effective = t_kha * (1 + rng.uniform(0.05, 0.20, n)) * (1 + np.clip(rng.normal(0, 0.03, n), -0.08, 0.08))
    n_missing = max(1, int(round(MISSING_SHARE * n)))
    missing = np.zeros(n, dtype=bool)
    missing[rng.choice(n, n_missing, replace=False)] = True
    base = pd.DataFrame({"code": truth["code"], "city": truth["city"], "province": truth["province"], "name": truth["name"],
                         "actual": actual, "effective": effective})
    tables = {}
    for level, key in (("county", "code"), ("city", "city"), ("province", "province")):
        src = base[~missing] if level == "county" else base
        g = src.groupby(key, sort=True)[["actual", "effective"]].sum() if level != "county" else src.set_index("code")[["actual", "effective"]]
        rows = []
        for code, r in g.iterrows():
            for variant in ("effective", "actual"):
                rows.append({"code": code, "level": level, "year": spec.year, "variant": variant,
                             "irrigated_area": f"{r[variant]:.4f}"})
        tables[level] = pd.DataFrame(rows)
    names = dict(zip(truth["code"], truth["name"]))
    tables["county"].insert(1, "name", tables["county"]["code"].map(names))
    out = truth[["code", "name", "city", "province", "truth_irrigated_m2", "cropland_m2"]].copy()
    out["truth_irrigated_1000ha"] = out["truth_irrigated_m2"] / 1e7
    out["reported_actual_1000ha"] = actual
    out["reported_effective_1000ha"] = effective
    out["missing_in_county_table"] = missing
    return tables, out
