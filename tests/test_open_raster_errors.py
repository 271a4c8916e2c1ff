"""Every raster open failure names its cause: a probe gave [inputs.dem].path = "inputs" (a folder) and was told the
file might be "truncated or damaged" and should be downloaded again. irrmap.core.raster_read.open_raster now gives
the same three answers as the grid reader (irrmap.core.grid): no such file, a folder, or a file GDAL cannot read."""

from __future__ import annotations

import pytest

from irrmap.core.errors import InputError
from irrmap.core.raster_read import open_raster


def test_a_folder_is_named_as_a_folder(tmp_path):
    with pytest.raises(InputError, match="this is a folder, not a raster file") as e:
        open_raster(tmp_path)
    assert "truncated" not in str(e.value)  # old: "cannot open raster ... a truncated or damaged file must be downloaded"


def test_a_missing_file_is_named_as_missing(tmp_path):
    with pytest.raises(InputError, match="no such raster file"):
        open_raster(tmp_path / "nope.tif")


def test_a_file_of_another_format_keeps_gdals_message(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("not a raster")
    with pytest.raises(InputError, match="cannot open raster: .*not recognized"):
        open_raster(p)
