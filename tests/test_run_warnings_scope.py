"""The run's collected warnings hold warnings about the run, not matplotlib's once-per-process font fallbacks (a
first run in a process logged 'findfont: Font family STIXGeneral not found', a second did not: the run state and the
report's flags differed between two runs of one config)."""

import logging

from irrmap.app.run_warnings import collected_warnings


def test_matplotlib_font_warnings_are_not_run_warnings():
    sink: list = []
    with collected_warnings("evaluation", sink):
        logging.getLogger("matplotlib.font_manager").warning("findfont: Font family ['STIXGeneral'] not found.")
        logging.getLogger("irrmap.evaluation").warning("60 of 473 points fall on nodata")
    assert sink == [{"stage": "evaluation", "logger": "irrmap.evaluation", "message": "60 of 473 points fall on nodata"}]
