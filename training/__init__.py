"""Training data: vegetation-index composites, statistics-matched threshold splitting and the training pool.

Stage package: it imports the shared core (`irrmap`) and never the shell (CLI, pipeline).
"""
