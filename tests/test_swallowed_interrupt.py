"""A SIGTERM whose KeyboardInterrupt native code swallowed (Python ran the handler inside a ctypes callback, as
happens while numba compiles a kernel through llvmlite) still stops the work: after the next task of a local dask
computation, and before the next stage of `irrmap run` (exit 143, the manifest names the stage it stopped at).
The swallowing is real: the signal is sent from inside a ctypes callback, and ctypes reports the exception as
unraisable instead of raising it."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys

import dask
import dask.array as da
import pytest

from irrmap.app import pipeline
from irrmap.app.cli import Terminated, _raise_terminated, _sigterm_as_interrupt, main
from irrmap.core.interrupts import dask_checkpoint, raise_if_swallowed, watch_swallowed

CALLBACK = ctypes.CFUNCTYPE(None)


def _sigterm_inside_a_ctypes_callback() -> None:
    """Send SIGTERM to this process from Python code that ctypes calls back: the handler runs there and its
    exception cannot cross the native frame, so the ctypes call returns normally."""

    def body():
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(100_000):  # the handler runs between these bytecodes, inside the callback
            pass

    keep = CALLBACK(body)
    keep()  # returns: the Terminated was swallowed


@pytest.fixture(autouse=True)
def _restore_sigterm():
    previous = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, previous)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_without_the_watch_the_stop_is_lost():
    """The fault this guards against: the SIGTERM handler's exception is swallowed and the computation runs on."""
    signal.signal(signal.SIGTERM, _raise_terminated)
    _sigterm_inside_a_ctypes_callback()
    x = da.ones(10, chunks=5).sum()
    assert int(x.compute(scheduler="threads")) == 10  # no exception: the stop is gone


def test_a_swallowed_sigterm_is_raised_after_the_next_dask_task():
    with _sigterm_as_interrupt():
        _sigterm_inside_a_ctypes_callback()
        with dask_checkpoint(), dask.config.set(scheduler="threads"), pytest.raises(Terminated):
            da.ones(100, chunks=10).sum().compute()
        raise_if_swallowed()  # raised once: nothing is left to raise


def test_any_command_stops_at_its_next_dask_computation():
    """A single-purpose command holds no checkpoint from the start (it would import dask for commands that never use
    it): the swallowed stop arms one, and the next local computation raises it after a task."""
    from dask.callbacks import Callback

    before = set(Callback.active)
    with _sigterm_as_interrupt():
        _sigterm_inside_a_ctypes_callback()
        with dask.config.set(scheduler="threads"), pytest.raises(Terminated):
            da.ones(100, chunks=10).sum().compute()
    assert set(Callback.active) == before  # the armed checkpoint is gone with the block


def test_the_stop_is_raised_once_and_other_unraisable_errors_still_reach_the_previous_hook():
    seen = []
    previous = sys.unraisablehook
    sys.unraisablehook = lambda u: seen.append(type(u.exc_value))
    try:
        with watch_swallowed():
            CALLBACK(lambda: 1 / 0)()  # an ordinary error in a callback: reported as before, not a stop
            raise_if_swallowed()
            CALLBACK(lambda: (_ for _ in ()).throw(KeyboardInterrupt()))()
            with pytest.raises(KeyboardInterrupt):
                raise_if_swallowed()
            raise_if_swallowed()
    finally:
        sys.unraisablehook = previous
    assert seen == [ZeroDivisionError]


def test_irrmap_run_stops_before_the_next_stage(tmp_path, monkeypatch, capsys):
    """A stage during which the SIGTERM was swallowed finishes (its outputs are whole); the run stops before the next
    one with exit 143 and a manifest that names it; running again resumes after the finished stage."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    prof = {"driver": "GTiff", "dtype": "float32", "width": 8, "height": 8, "count": 1, "crs": "EPSG:4326",
            "transform": from_origin(100.0, 40.0, 0.01, 0.01)}
    for name in ("a", "b"):
        with rasterio.open(tmp_path / f"{name}.tif", "w", **prof) as dst:
            dst.write(np.ones((8, 8), np.float32), 1)
    cfg = tmp_path / "config.toml"
    cfg.write_text('[run]\noutput_dir = "output"\n\n[grid]\ncrs = "EPSG:4326"\nbounds = [100.0, 39.92, 100.08, 40.0]\n'
                   'resolution = 0.01\n\n[inputs.a]\npath = "a.tif"\n\n[inputs.b]\npath = "b.tif"\n')
    original = pipeline.run_guarded
    ran = []

    def first_stage_swallows_a_sigterm(stage, ctx):
        out = original(stage, ctx)
        if not ran:
            _sigterm_inside_a_ctypes_callback()
        ran.append(stage.name)
        return out

    monkeypatch.setattr(pipeline, "run_guarded", first_stage_swallows_a_sigterm)
    assert main(["-q", "run", str(cfg)]) == 143
    assert "irrmap: terminated by SIGTERM" in capsys.readouterr().err
    manifest = json.loads((tmp_path / "output" / "manifest.json").read_text())
    assert ran == ["inputs.a"]
    assert manifest["status"] == "failed" and manifest["error"] == {"stage": "inputs.b", "message": "terminated by SIGTERM"}
    monkeypatch.setattr(pipeline, "run_guarded", original)
    assert main(["-q", "run", str(cfg)]) == 0
    manifest = json.loads((tmp_path / "output" / "manifest.json").read_text())
    assert manifest["stages"]["inputs.a"]["status"] == "skipped (up to date)" and manifest["stages"]["inputs.b"]["status"] == "ran"
