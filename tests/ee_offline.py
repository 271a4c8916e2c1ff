"""Offline Earth Engine for the catalogue, graph and replay tests: earthengine-api's own test harness
(ee.apitestcase.ApiTestCase: the recorded algorithm signatures, no network)."""

from __future__ import annotations

import contextlib

import pytest


@contextlib.contextmanager
def offline_ee():
    """The `ee` module initialised offline; skips the test when earthengine-api (the `ee` extra) is absent."""
    ee = pytest.importorskip("ee")
    from ee import apitestcase

    case = apitestcase.ApiTestCase("setUp")
    case.setUp()
    try:
        yield ee
    finally:
        case.tearDown()
