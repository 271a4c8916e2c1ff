"""Scale of the features stage (issue 19 item 2): the composites are computed once per window. The stage
writes them first and takes the N- and S-scores' 101 x 101 running median from the written maxima, so a
window's halo no longer recomputes its neighbours' composites from every date of every series; the values
are those of the one-graph definition (training.sscore.feature_rasters)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import rasterio

from irrmap.app.context import RunContext
from irrmap.app.demo import generate_demo
from irrmap.app.pipeline import dask_scheduler, plan_stages, run_pipeline
from irrmap.app.stages import features as stage
from irrmap.app.stages.common import read_product, zones_and_codes
from irrmap.core.config import load_config
from irrmap.core.raster_write import RasterOutput, write_rasters

CHUNK = 64  # 128 x 192 pixels: 2 x 3 windows, each halo (50 px) reaching into its neighbours


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scale_features")
    generate_demo(folder, rows=128, cols=192, seed=5, workers=2)
    text = (folder / "config.toml").read_text()
    text = re.sub(r"(?m)^chunk_size = \d+$", f"chunk_size = {CHUNK}", text)
    (folder / "config.toml").write_text(text[:text.index("\n[training]")] + "\n")
    return folder / "config.toml"


def _counting_kernel(monkeypatch) -> list:
    """Count the blocks of the composites' numba kernel (one per series composite and window computed)."""
    import irrmap.training.composites as composites

    calls, real = [], composites._stats_kernel

    def kernel(block, *args):
        calls.append(block.shape)
        return real(block, *args)

    monkeypatch.setattr(composites, "_stats_kernel", kernel)
    return calls


def _one_graph(cfg, folder):
    """The stage as one graph: every raster of feature_rasters in one streaming pass (the definition)."""
    from irrmap.training.sscore import feature_rasters

    loaded = load_config(cfg)
    ctx = RunContext(loaded, loaded.grid(), loaded.output_dir)
    plan_stages(ctx)
    sec, names = stage._settings(ctx)
    sec.setdefault("chunks", ctx.config.run.chunk_size)
    read = lambda n: read_product(ctx, n, n)  # noqa: E731
    with dask_scheduler(loaded.config):
        rasters = feature_rasters(sec, ctx.grid, f_crop=read(names["cropland"]), f_natural=read(names["natural"]),
                                  f_other=read(names["other"]), suitability=read("suitability"), zones=zones_and_codes(ctx)[0],
                                  unit_table=pd.read_csv(ctx.outdir / "suitability" / "units.csv", index_col="zone"),
                                  base_dir=ctx.loaded.base)
        write_rasters([RasterOutput(folder / f"{n}.tif", a) for n, a in rasters.items()])
    return sorted(rasters)


def test_two_passes_compute_each_composite_once_and_give_the_one_graph_values(run, monkeypatch, tmp_path):
    calls = _counting_kernel(monkeypatch)
    run_pipeline(run)
    windows = 2 * 3
    series = 4  # evi, ndvi, gi (nir / green), ndwi (nir / swir)
    assert len(calls) == windows * series  # once per window and series: nothing recomputed under the halos

    calls.clear()
    names = _one_graph(run, tmp_path)
    assert len(calls) > windows * series  # the one-graph pass recomputes neighbours' composites (what the stage avoids)

    out = run.parent / "output" / "features"
    assert sorted(p.stem for p in out.glob("*.tif")) == names and not (out / "resume").exists()
    for n in names:
        with rasterio.open(out / f"{n}.tif") as a, rasterio.open(tmp_path / f"{n}.tif") as b:
            x, y = a.read(1), b.read(1)
        assert np.isfinite(x).mean() > 0.5, n
        assert np.array_equal(x, y, equal_nan=True), n
