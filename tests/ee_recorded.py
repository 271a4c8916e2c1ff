"""A recorded Earth Engine transport for the fetch tests: it answers computePixels payloads as Earth Engine does,
with GeoTIFF bytes made by rasterio, and plays back scripted failures (quota errors, 5xx, truncated tiles, a stop).

The answer for a request is georeferenced with the request's own affineTransform and CRS, and its pixels are cut
from a truth array at the window that transform names (translate = grid origin + offset * pixel size, solved here
independently of irrmap's tiling code); a transform off the grid's lattice (e.g. half a pixel) is refused, as it
would give resampled pixels."""

from __future__ import annotations

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.io import MemoryFile


def geotiff(array: np.ndarray, transform: Affine, crs, nodata=None) -> bytes:
    """A single-band GeoTIFF of `array` in memory."""
    with MemoryFile() as mem:
        with mem.open(driver="GTiff", width=array.shape[1], height=array.shape[0], count=1, dtype=array.dtype.name,
                      transform=transform, crs=crs, nodata=nodata) as dst:
            dst.write(array, 1)
        return bytes(mem.read())


class QuotaError(Exception):
    """What googleapiclient raises for HTTP 429 (an HttpError with resp.status)."""

    def __init__(self, status: int = 429, text: str = "Too Many Requests"):
        self.resp = type("Resp", (), {"status": status})()
        super().__init__(f"<HttpError {status}: {text}>")


class EEException(Exception):
    """Stand-in for ee.ee_exception.EEException (earthengine-api is an optional extra, absent in CI)."""


class RecordedTransport:
    """`truth`: expression -> 2-D array on `grid`. `script`: (expression, (row_off, col_off)) -> list of answers
    played back in order before the true one: an exception to raise, or bytes (e.g. truncated). `stop_after`:
    raise KeyboardInterrupt on that many-th request (1-based), as a Ctrl-C during the download. `calls` records
    (expression, (row_off, col_off)) of every request."""

    def __init__(self, truth: dict, grid, script: dict | None = None, stop_after: int | None = None):
        self.truth, self.grid, self.script, self.stop_after = truth, grid, {k: list(v) for k, v in (script or {}).items()}, stop_after
        self.calls: list = []

    def compute_pixels(self, request: dict) -> bytes:
        assert request["fileFormat"] == "GEO_TIFF"
        g = request["grid"]
        a = g["affineTransform"]
        t = Affine(a["scaleX"], a["shearX"], a["translateX"], a["shearY"], a["scaleY"], a["translateY"])
        col = (t.c - self.grid.transform.c) / self.grid.transform.a
        row = (t.f - self.grid.transform.f) / self.grid.transform.e
        if abs(col - round(col)) > 1e-6 or abs(row - round(row)) > 1e-6 or (t.a, t.e) != (self.grid.transform.a, self.grid.transform.e):
            raise EEException(f"request grid is off the lattice: offset ({row}, {col}) px, size {t.a}, {t.e}")
        r, c = int(round(row)), int(round(col))
        key = (request["expression"], (r, c))
        self.calls.append(key)
        if self.stop_after is not None and len(self.calls) >= self.stop_after:
            raise KeyboardInterrupt
        queued = self.script.get(key)
        if queued:
            answer = queued.pop(0)
            if isinstance(answer, BaseException):
                raise answer
            return answer
        h, w = g["dimensions"]["height"], g["dimensions"]["width"]
        crs = CRS.from_user_input(g["crsCode"]) if "crsCode" in g else CRS.from_wkt(g["crsWkt"])
        return geotiff(self.truth[request["expression"]][r:r + h, c:c + w], t, crs)


def truncated(data: bytes) -> bytes:
    """The first half of a tile's bytes: a partial answer (a dropped connection)."""
    return data[: len(data) // 2]


def read(path):
    with rasterio.open(path) as src:
        return src.read(1, masked=False), src.profile, src.descriptions
