"""The real transport against earthengine-api's own client code (offline: ee.apitestcase.ApiTestCase initialises
the library with recorded algorithm signatures, and the Cloud API call is replaced by a recorder): the payload irrmap
builds is what ee.data.computePixels sends, and the client's own exception types are classified as intended.
Skipped where the optional extra earthengine-api is not installed."""

from __future__ import annotations

import pytest

ee = pytest.importorskip("ee")
from ee import apitestcase, serializer  # noqa: E402

from irrmap.sources.ee.tiles import plan_tiles, request  # noqa: E402
from irrmap.sources.ee.transport import EETransport, is_transient  # noqa: E402
from tests.test_ee_fetch_tiles import GRID  # noqa: E402


class TestRealTransport(apitestcase.ApiTestCase):
    def test_payload_is_what_compute_pixels_sends(self):
        sent = {}

        class Images:
            def computePixels(self, project, body):
                sent.update(project=project, body=body)
                return "recorded call"

        class Projects:
            def image(self):
                return Images()

        old = ee.data._get_cloud_projects_raw, ee.data._execute_cloud_call
        ee.data._get_cloud_projects_raw = lambda: Projects()
        ee.data._execute_cloud_call = lambda call, *a, **k: b"GeoTIFF bytes" if call == "recorded call" else None
        try:
            image = ee.Image.constant(1).toFloat()
            tile = plan_tiles(GRID, 512)[-1]
            req = request(image, GRID, tile.window)
            assert EETransport(ee).compute_pixels(req) == b"GeoTIFF bytes"
        finally:
            ee.data._get_cloud_projects_raw, ee.data._execute_cloud_call = old
        body = sent["body"]
        assert sent["project"] == "projects/my-project"
        assert body["fileFormat"] == "GEO_TIFF" and body["grid"] == req["grid"]
        assert body["expression"] == serializer.encode(image)
        assert body["grid"]["affineTransform"]["translateX"] == pytest.approx(110.00125 + int(tile.window.col_off) * 0.0025)


def test_client_exceptions_are_classified():
    import httplib2
    from googleapiclient.errors import HttpError

    assert is_transient(HttpError(httplib2.Response({"status": 429}), b"Too Many Requests"))
    assert is_transient(HttpError(httplib2.Response({"status": 503}), b"unavailable"))
    assert not is_transient(HttpError(httplib2.Response({"status": 400}), b"Request payload size exceeds the limit"))
    assert is_transient(ee.EEException("Too many concurrent aggregations."))
    assert not is_transient(ee.EEException("Image.load: Image asset 'X' not found (does not exist or caller does not have access)."))
