"""CLI start-up: a single-purpose command imports only its own group's module and what that command uses
(no scikit-learn, LightGBM, geopandas or matplotlib for `irrmap suitability slope`); `irrmap --help` still lists
every group; `--no-cog` writes a tiled DEFLATE GeoTIFF without overviews holding gdaldem's slope."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import rasterio
from affine import Affine

from irrmap.app.cli import GROUPS, main

HEAVY = ("sklearn", "lightgbm", "geopandas", "matplotlib", "irrmap.models", "irrmap.evaluation", "irrmap.app.cli.evaluate_cmd")


def _dem(path, n=700):
    rng = np.random.default_rng(0)
    z = (np.cumsum(rng.normal(size=(n, n)), axis=0) + np.cumsum(rng.normal(size=(n, n)), axis=1)).astype(np.float32)
    prof = dict(driver="GTiff", height=n, width=n, count=1, dtype="float32", crs="EPSG:32650",
                transform=Affine(30, 0, 400000, 0, -30, 4500000))
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(z, 1)
    return path


def _modules_after(argv: list[str]) -> list[str]:
    code = ("import json, sys\nfrom irrmap.app.cli import main\n"
            f"rc = main({argv!r})\nassert rc == 0, rc\n"
            f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_slope_and_distance_import_no_heavy_modules(tmp_path):
    dem = _dem(tmp_path / "dem.tif")
    assert _modules_after(["-q", "suitability", "slope", str(dem), str(tmp_path / "s.tif")]) == []
    assert _modules_after(["-q", "suitability", "distance", str(dem), str(tmp_path / "d.tif"), "--threshold", "0"]) == []


def test_help_lists_every_group(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert all(name in text for name, _ in GROUPS)


def test_unknown_group_is_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["no-such-group"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("gdaldem") is None, reason="gdaldem (Debian gdal-bin) not installed")
def test_no_cog_is_a_plain_tiled_deflate_geotiff_with_gdaldem_values(tmp_path):
    dem = _dem(tmp_path / "dem.tif")
    out, ref = tmp_path / "s.tif", tmp_path / "g.tif"
    assert main(["-q", "suitability", "slope", str(dem), str(out), "--no-cog"]) == 0
    subprocess.run(["gdaldem", "slope", "-q", "-compute_edges", str(dem), str(ref)], check=True)
    with rasterio.open(out) as a, rasterio.open(ref) as b:
        assert a.profile["tiled"] and a.profile["compress"] == "deflate" and a.overviews(1) == []
        assert a.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR") == "3"
        np.testing.assert_allclose(a.read(1), b.read(1), rtol=1e-5, atol=1e-4)
