"""The offline map viewer of a finished run (`irrmap view RUN_DIR`): one self-contained HTML file with Leaflet
inlined, raster layers as tile pyramids read from the COG overviews, admin units and reference points."""

from irrmap.evaluation.viewer.build import ViewerResult, write_viewer
from irrmap.evaluation.viewer.tiles import Colouring, Frame, read_level, render_pyramid

__all__ = ["Colouring", "Frame", "ViewerResult", "read_level", "render_pyramid", "write_viewer"]
