"""The shared core every stage and layer stands on: Grid and true pixel areas, ground spacing, raster read
onto a grid and atomic COG writes, nodata rules, admin units, statistics tables in m2, config, manifest, errors.
The core imports no stage package and nothing from the application shell (irrmap.app)."""
