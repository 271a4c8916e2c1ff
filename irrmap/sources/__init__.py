"""Sensor and data-product readers shared by every layer: MODIS presets and quality bits today; Landsat,
Sentinel-2 and Earth Engine sources go here (one decoder per product, so no QA bit is decoded twice)."""
