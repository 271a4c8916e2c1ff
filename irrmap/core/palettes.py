"""Colour tables of irrmap's class maps (value -> (r, g, b, alpha), 0-255), written into the GeoTIFFs
(irrmap.core.raster_write `colours=`) so that QGIS, ArcGIS and gdalinfo show the classes without a style file,
and used by the report's map figures. A TIFF colour map holds no alpha (GDAL reads every entry as opaque), so
nodata (255) is white and shows as transparent through the file's nodata value."""

from __future__ import annotations

TRANSPARENT = (255, 255, 255, 0)

# irrigation class maps (mapping/class.tif, threshold maps): 1 irrigated, 0 cropland not irrigated, 255 none
NOT_IRRIGATED = (243, 239, 224, 255)
IRRIGATED = (21, 101, 192, 255)
IRRIGATION = {0: NOT_IRRIGATED, 1: IRRIGATED, 255: TRANSPARENT}

# water class maps (water/<epoch>/water.tif): 1 water, 0 not water, 255 unknown
WATER = {0: (238, 238, 238, 255), 1: (31, 120, 180, 255), 255: TRANSPARENT}

# water persistence (water/<epoch>/persistence.tif): 0 not water, 1 permanent, 2 seasonal, 255 unknown
PERSISTENCE = {0: (238, 238, 238, 255), 1: (8, 48, 107, 255), 2: (107, 174, 214, 255), 255: TRANSPARENT}


# water transitions between two epochs (water/change_A_B/transitions.tif, irrmap.mapping.water.change.TRANSITIONS):
# the JRC Global Surface Water transitions palette (GSW Data Users Guide v2, transitions layer), 0 no water grey
TRANSITIONS = {0: (238, 238, 238, 255), 1: (0, 0, 255, 255), 2: (34, 177, 76, 255), 3: (255, 0, 0, 255), 4: (153, 217, 234, 255),
               5: (181, 230, 29, 255), 6: (230, 161, 170, 255), 7: (255, 127, 39, 255), 8: (255, 201, 14, 255), 255: TRANSPARENT}


# tree-cover change classes (treecover/change_A_B.tif, irrmap.mapping.treecover.change.CLASSES): greys for stable,
# greens for gain, oranges/reds for loss; forest classes darker than non-forest ones (Hansen GFC-like hues)
TREECOVER_CHANGE = {1: (224, 224, 224, 255), 2: (199, 233, 192, 255), 3: (253, 208, 162, 255), 4: (35, 139, 69, 255),
                    5: (0, 90, 50, 255), 6: (253, 141, 60, 255), 7: (215, 25, 28, 255), 8: (26, 150, 65, 255), 255: TRANSPARENT}


def hex_colour(rgba: tuple) -> str:
    """'#rrggbb' of an (r, g, b, alpha) entry, for matplotlib."""
    return "#{:02x}{:02x}{:02x}".format(*rgba[:3])


__all__ = ["IRRIGATED", "IRRIGATION", "NOT_IRRIGATED", "PERSISTENCE", "TRANSITIONS", "TRANSPARENT", "TREECOVER_CHANGE", "WATER", "hex_colour"]
