"""Map production: windowed prediction, spatial filtering, aggregation, water-body and tree-cover layers.

Stage package: it imports the shared core (`irrmap`) and never the shell (CLI, pipeline).
"""
