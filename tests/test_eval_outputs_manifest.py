"""Every file the evaluation report writes is returned (so `irrmap run`'s manifest lists it and a deleted one makes
the stage run again), stale files of its own naming are removed, and a "percent" map of whole-number counts is warned
about. Data: the Kansas LEMA irrigation-frequency map (0-10 years irrigated, 2008-2017) and its regions."""

import logging
from pathlib import Path

import numpy as np
import pytest
import rasterio
from irrmap.evaluation.workflow import statistics_agreement, write_report
from rasterio.transform import from_origin

K = Path("/work/shared/data/irrigation_maps/kansas_lema")
pytestmark = pytest.mark.skipif(not K.exists(), reason="Kansas LEMA data not available")


def _stats(kind="binary", threshold=5.0):
    return statistics_agreement(K / "irrigation_frequency_2008_2017.tif", K / "regions.shp", "masterid", K / "irrigated_area_by_region.csv",
                                "region", "irrigated_ha_landsat", "ha", hierarchy="none", map_kind=kind, threshold=threshold,
                                year_field="year", year=2015)


def test_report_returns_statistics_and_figures_and_prunes_stale(tmp_path):
    (tmp_path / "figures").mkdir()
    stale = [tmp_path / "statistics_county.csv", tmp_path / "figures" / "scatter_county.png", tmp_path / "points_sampled.csv"]
    for f in stale:
        f.write_text("old")
    st = _stats()
    paths = write_report(tmp_path, K / "irrigation_frequency_2008_2017.tif", statistics=st, map_kind="binary", threshold=5.0, prune=True)
    on_disk = {str(p) for p in tmp_path.rglob("*") if p.is_file()}
    assert set(paths.values()) == on_disk  # every file written is returned, nothing else is left
    for lv in st.levels:
        assert paths[f"statistics_{lv}"] == str(tmp_path / f"statistics_{lv}.csv")
    assert any(k.startswith("figure_") for k in paths)
    assert all(Path(p).exists() for p in paths.values())
    assert not any(f.exists() for f in stale)


def test_report_without_prune_keeps_other_files(tmp_path):
    (tmp_path / "statistics_mine.csv").write_text("keep")
    paths = write_report(tmp_path, K / "irrigation_frequency_2008_2017.tif", statistics=_stats(), map_kind="binary", threshold=5.0)
    assert (tmp_path / "statistics_mine.csv").exists()  # `irrmap evaluate report --out` into a folder of the user's
    assert str(tmp_path / "statistics_mine.csv") not in paths.values()


def test_percent_map_of_year_counts_is_warned(caplog):
    with caplog.at_level(logging.WARNING):
        _stats("percent", None)
    msg = [r.getMessage() for r in caplog.records if "declared percent" in r.getMessage()]
    assert msg and "0, 2, 3, 4, 5, 6, 7, 8, 9, 10" in msg[0] and "--map-kind binary" in msg[0]


def test_percent_map_of_percentages_is_not_warned(tmp_path, caplog):
    a = np.linspace(0, 100, 64).reshape(8, 8).astype(np.float32)  # 0..100 with fractions: real percentages
    with rasterio.open(tmp_path / "p.tif", "w", driver="GTiff", width=8, height=8, count=1, dtype="float32", crs="EPSG:4326",
                       transform=from_origin(0, 8, 1, 1)) as ds:
        ds.write(a, 1)
    from irrmap.evaluation.workflow import check_map_values

    with caplog.at_level(logging.WARNING):
        check_map_values(tmp_path / "p.tif", None, "percent")
    assert not [r for r in caplog.records if "declared percent" in r.getMessage()]
