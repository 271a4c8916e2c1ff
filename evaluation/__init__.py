"""Evaluation: point accuracy, error-adjusted areas, agreement with statistics, map comparison, reports.

Stage package: it imports the shared core (`irrmap`) and never the shell (CLI, pipeline).
"""
