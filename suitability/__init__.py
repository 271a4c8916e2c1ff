"""Irrigation suitability: slope, distance to water, aridity, per-unit reclassification and weighted overlay.

Stage package: it imports the shared core (`irrmap`) and never the shell (CLI, pipeline).
"""
