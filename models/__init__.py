"""Classifiers (random forest, LightGBM): fitting, spatially blocked validation, persistence and model cards.

Stage package: it imports the shared core (`irrmap`) and never the shell (CLI, pipeline).
"""
