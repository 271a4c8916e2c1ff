"""Compare two maps on one grid: area-weighted agreement matrix, OA, kappa, and quantity and allocation
disagreement (Pontius & Millones 2011, Int. J. Remote Sens. 32:4407-4429), plus per-unit areas side by side.

Both maps are binarised (value > threshold = irrigated). The matrix holds true ground area (m2), rows map A,
columns map B; pixels where either map is missing are left out (their area is reported). A map B may instead hold
its irrigated fraction per pixel (threshold None; a finer map averaged onto A's grid, evaluation.compare_grids): each
pixel's area then goes to B's columns in proportion (area-weighted cross-tabulation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from irrmap.core import fixed_sum
from irrmap.evaluation.confusion import _clean, columns_as_rows
from irrmap.core.errors import DataError
from irrmap.core.grid import Grid

CLASSES = (0, 1)
CLASS_NAMES = {0: "not_irrigated", 1: "irrigated"}


def disagreement(matrix) -> dict:
    """Quantity and allocation disagreement of a square matrix (counts or areas; normalised here; a DataFrame whose
    columns hold its rows' labels in another order is read by label: irrmap.evaluation.confusion.columns_as_rows).

    Per class g with p_g+ (row) and p_+g (column) totals: q_g = |p_g+ - p_+g|, a_g = 2 min(p_g+ - p_gg,
    p_+g - p_gg); Q = sum q_g / 2, A = sum a_g / 2, and Q + A = 1 - OA (Pontius & Millones 2011 eqs. 2-7).
    """
    x = np.asarray(columns_as_rows(matrix), dtype=np.float64)  # a labelled matrix's columns in its rows' order
    if x.ndim != 2 or x.shape[0] != x.shape[1] or (x < 0).any() or not x.sum() > 0:
        raise DataError("need a square matrix of non-negative counts or areas with a positive total", "matrix")
    p = x / x.sum()
    rows, cols, diag = p.sum(axis=1), p.sum(axis=0), np.diag(p)
    q_g = np.abs(rows - cols)
    a_g = 2 * np.minimum(rows - diag, cols - diag)
    return {"overall_agreement": float(diag.sum()), "quantity_disagreement": float(q_g.sum() / 2),
            "allocation_disagreement": float(a_g.sum() / 2), "quantity_by_class": q_g, "allocation_by_class": a_g}


@dataclass
class MapComparison:
    """Result of comparing two binary maps: the area matrix (m2, rows A, columns B) and its measures."""

    matrix: pd.DataFrame
    overall_agreement: float
    kappa: float
    quantity_disagreement: float
    allocation_disagreement: float
    missing_area_m2: float
    names: tuple[str, str]
    irrigated_area_a_m2: float | None = None  # on map A's own grid, valid pixels, no mask (None: the matrix's row sum)
    irrigated_area_b_m2: float | None = None  # on map B's own grid, valid pixels, no mask (None: the matrix's column sum)
    grids: dict = field(default_factory=dict)  # comparison grid and how each map came onto it (extra to_dict keys)

    def to_dict(self) -> dict:
        """JSON-ready dict. irrigated_area_a_m2 / irrigated_area_b_m2: each map's irrigated area on its own grid (true
        pixel areas, mask not applied); *_compared_m2: the matrix's row / column sums (compared pixels, mask applied)."""
        area = self.matrix.to_numpy()
        own_a = area[1, :].sum() if self.irrigated_area_a_m2 is None else self.irrigated_area_a_m2
        own_b = area[:, 1].sum() if self.irrigated_area_b_m2 is None else self.irrigated_area_b_m2
        return {
            "map_a": self.names[0], "map_b": self.names[1],
            "classes": [CLASS_NAMES[c] for c in CLASSES],
            "agreement_matrix_m2": [[_clean(v) for v in row] for row in area.tolist()],
            "agreement_matrix_orientation": "rows = map A, columns = map B, cells = area (m2)",
            "overall_agreement": _clean(self.overall_agreement), "kappa": _clean(self.kappa),
            "quantity_disagreement": _clean(self.quantity_disagreement),
            "allocation_disagreement": _clean(self.allocation_disagreement),
            "irrigated_area_a_m2": _clean(own_a), "irrigated_area_b_m2": _clean(own_b),
            "irrigated_area_a_compared_m2": _clean(area[1, :].sum()), "irrigated_area_b_compared_m2": _clean(area[:, 1].sum()),
            "compared_area_m2": _clean(area.sum()), "missing_area_m2": _clean(self.missing_area_m2),
            "area_basis": "irrigated_area_a_m2/_b_m2: each map on its own grid (true pixel areas, valid pixels, no mask); "
                          "agreement_matrix_m2 and *_compared_m2: the compared pixels of the comparison grid",
            **self.grids,
            "not_estimable": self.not_estimable(),
        }

    def not_estimable(self) -> dict[str, str]:
        """{measure: reason} for each NaN measure (kappa when both maps hold one and the same class only)."""
        if self.kappa == self.kappa:
            return {}
        held = [c for c, a, b in zip(self.matrix.index, self.matrix.sum(axis=1), self.matrix.sum(axis=0)) if a + b > 0]
        return {"kappa": f"both maps are {', '.join(held)} on every compared pixel: chance agreement is 1 and kappa is 0/0"}


def compare_maps(a: xr.DataArray, b: xr.DataArray, *, threshold_a: float = 0.0, threshold_b: float = 0.0,
                 mask: xr.DataArray | None = None, names=("A", "B"), tile: int = 2048) -> MapComparison:
    """Area-weighted agreement of two maps on the same grid (align with irrmap.core.raster_read.read_raster first).

    `mask` (optional, same grid): only pixels where mask > 0 count, e.g. cropland.
    """
    return compare_maps_many(a, [b], threshold_a=threshold_a, thresholds_b=[threshold_b], mask=mask, names=[names], tile=tile)[0]


def compare_maps_many(a: xr.DataArray, bs, *, threshold_a: float = 0.0, thresholds_b=None, mask: xr.DataArray | None = None,
                      names=None, tile: int = 2048) -> list[MapComparison]:
    """`compare_maps` of map A with each map of `bs` (same grid), in one pass over A: A, the mask and the pixel
    areas are read once per tile, not once per map B; the same sums in the same order, so the same bits as one
    compare_maps per map. `thresholds_b` (default 0 each) and `names` ((A, B) pairs, default ("A", "B")) per map B.
    A threshold None: that map B holds its irrigated fraction (0..1, NaN missing) per pixel, and each pixel's area is
    split between B's columns by it. Each result's irrigated_area_a_m2 / _b_m2 are summed on this grid over valid
    pixels without the mask (a caller that resampled a map B onto it replaces B's by its own-grid area). Every area
    (m2, true pixel areas) is summed in fixed point (irrmap.core.fixed_sum.KeySums): the same bits whatever `tile`."""
    bs = list(bs)
    thresholds_b = [0.0] * len(bs) if thresholds_b is None else list(thresholds_b)
    names = [("A", "B")] * len(bs) if names is None else list(names)
    grid = Grid.from_dataarray(a)
    for other, nm in [*((b, "map B") for b in bs), (mask, "mask")]:
        if other is not None and not Grid.from_dataarray(other).aligned_with(grid):
            raise DataError(f"{nm} is not on map A's grid: {Grid.from_dataarray(other).mismatch_text(grid)}", nm, "read it onto map A's grid (irrmap evaluate compare does this)")
    # fixed point (irrmap.core.fixed_sum): every area the same bits whatever `tile`. Per map B, keys 0..3 are the
    # matrix cells (2 x A class + B class), 4 the missing area, 5 B's irrigated area; irr_a: A's irrigated area
    sums = [fixed_sum.KeySums(6) for _ in bs]
    irr_a = fixed_sum.KeySums(1)
    for t in grid.tiles(tile):
        w = t.window
        sl = (slice(int(w.row_off), int(w.row_off + w.height)), slice(int(w.col_off), int(w.col_off + w.width)))
        va = _decoded(a, sl)
        area = np.asarray(grid.pixel_area(w), dtype=np.float64)
        keep = np.ones(va.shape, bool)
        if mask is not None:
            keep &= np.nan_to_num(np.asarray(mask.data[sl], dtype=np.float64)) > 0
        keep_a = keep & np.isfinite(va)
        code_a = (va > threshold_a).astype(np.int64) * 2
        irr_a.add(0, area[np.isfinite(va) & (va > threshold_a)])
        for i, b in enumerate(bs):
            vb = _decoded(b, sl)
            ok = keep_a & np.isfinite(vb)
            sums[i].add(4, area[keep & ~ok])
            if thresholds_b[i] is None:  # irrigated fraction of each pixel: its area split between B's columns
                f = np.clip(np.where(np.isfinite(vb), vb, 0.0), 0.0, 1.0)
                sums[i].add(5, area * f)
                sums[i].add(code_a[ok] + 1, (area * f)[ok])
                sums[i].add(code_a[ok], (area * (1.0 - f))[ok])
                continue
            sums[i].add(5, area[np.isfinite(vb) & (vb > thresholds_b[i])])
            code = code_a + (vb > thresholds_b[i]).astype(np.int64)
            sums[i].add(code[ok], area[ok])
    area_a = float(irr_a.totals()[0])
    out = []
    for s, nm in zip(sums, names):
        t = s.totals()
        out.append(_comparison(t[:4].reshape(2, 2), float(t[4]), nm))
        out[-1].irrigated_area_a_m2, out[-1].irrigated_area_b_m2 = area_a, float(t[5])
    return out


def _comparison(m: np.ndarray, missing: float, names) -> MapComparison:
    """The MapComparison of the 2 x 2 area matrix `m` (m2, rows A, columns B)."""
    if m.sum() <= 0:
        raise DataError("the maps share no valid pixels", "maps", "check that they overlap and that nodata is set correctly")
    d = disagreement(m)
    p = m / m.sum()
    pe = float(p.sum(axis=1) @ p.sum(axis=0))
    kappa = (d["overall_agreement"] - pe) / (1 - pe) if pe < 1 else math.nan
    names_idx = [CLASS_NAMES[c] for c in CLASSES]
    matrix = pd.DataFrame(m, index=pd.Index(names_idx, name=str(names[0])), columns=pd.Index(names_idx, name=str(names[1])))
    return MapComparison(matrix, d["overall_agreement"], kappa, d["quantity_disagreement"], d["allocation_disagreement"],
                         missing, (str(names[0]), str(names[1])))


def _decoded(da: xr.DataArray, sl) -> np.ndarray:
    """float64 window `sl` of `da`, NaN where it declares nodata (`nodata`, `_FillValue`, ...: decoded_block)."""
    from irrmap.core.array_input import decoded_block

    return decoded_block(da, da.data[sl])


def unit_areas_side_by_side(area_a: pd.Series, area_b: pd.Series, names=("A", "B")) -> pd.DataFrame:
    """Per-unit areas (m2) of two maps with their difference (B - A) and ratio."""
    df = pd.DataFrame({f"{names[0]}_m2": area_a, f"{names[1]}_m2": area_b})
    df["difference_m2"] = df.iloc[:, 1] - df.iloc[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        df["ratio"] = np.where(df.iloc[:, 0] > 0, df.iloc[:, 1] / df.iloc[:, 0].where(df.iloc[:, 0] > 0, 1), np.nan)
    df.index.name = "code"
    return df.reset_index()


__all__ = ["CLASS_NAMES", "MapComparison", "compare_maps", "compare_maps_many", "disagreement", "unit_areas_side_by_side"]
