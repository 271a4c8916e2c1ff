"""Tree-cover layer: percent canopy cover from Landsat calibrated on a coarse reference, per-pixel trend and
change between epochs. Modules are imported by name (irrmap.mapping.treecover.trend, ...)."""
