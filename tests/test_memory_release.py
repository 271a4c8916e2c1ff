"""irrmap.core.memory: freed heap memory goes back to the system between stages (glibc), and `irrmap run` does
it after each stage."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc only")

_SCRIPT = textwrap.dedent("""
    import os, threading
    import numpy as np
    from irrmap.core.memory import release_freed_memory

    def rss():  # resident pages of this process, from the kernel
        return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    keep = []
    def work():
        arrs = [np.ones(60_000, np.uint8) for _ in range(4000)]  # 240 MB of 60 kB blocks: below the mmap threshold
        keep.extend(arrs[::50])  # every 50th stays alive, so the freed space lies inside the heap, not at its top
    threads = [threading.Thread(target=work) for _ in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    before = rss()
    released = release_freed_memory()
    after = rss()
    alive = sum(a.sum() for a in keep)  # the kept arrays are intact
    print(before, after, int(released), int(alive))
""")


def test_release_gives_back_freed_heap_pages_and_keeps_live_data():
    out = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, check=True).stdout.split()
    before, after, released, alive = map(int, out)
    assert before - after > 300 * 2**20, (before, after)  # ~470 MB freed in two threads' arenas, inside their heaps
    assert released == 1
    assert alive == 2 * 80 * 60_000  # 80 live arrays of ones per thread


def test_run_releases_after_every_stage(monkeypatch, tmp_path):
    import irrmap.app.pipeline as pipeline
    from irrmap import generate_demo
    from irrmap.app.context import RunContext
    from irrmap.app.stages import build_stages
    from irrmap.core.config import load_config

    calls = []
    monkeypatch.setattr(pipeline, "release_freed_memory", lambda: calls.append(1) or True)
    generate_demo(tmp_path / "demo", rows=60, cols=80)
    config = tmp_path / "demo" / "config.toml"
    loaded = load_config(config)
    first = [s for s in build_stages(RunContext(loaded, loaded.grid(), loaded.output_dir)) if s.name.startswith("inputs.")][:3]
    manifest = pipeline.run_pipeline(config, stages=first)
    assert [st["status"] for st in manifest["stages"].values()] == ["ran"] * 3
    assert len(calls) == 3
    pipeline.run_pipeline(config, stages=first)  # all up to date: nothing ran, nothing to release
    assert len(calls) == 3


_ARENAS = textwrap.dedent("""
    import ctypes, sys, threading
    import numpy as np
    from irrmap.core.memory import limit_arenas

    if sys.argv[1] != "default":
        limit_arenas(int(sys.argv[1]))
    start = threading.Barrier(4)
    def work():
        start.wait()  # four threads allocating at once
        [np.ones(60_000, np.uint8) for _ in range(200)]
    threads = [threading.Thread(target=work) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    ctypes.CDLL("libc.so.6").malloc_stats()  # glibc's own report, one "Arena N:" section per arena, on stderr
""")


@pytest.mark.parametrize("cap,expected", [("default", 5), ("1", 1), ("2", 2)])
def test_limit_arenas_caps_glibcs_arenas(cap, expected):
    """glibc's malloc_stats counts the arenas: the main one plus one per allocating thread by default, at most
    `cap` once limit_arenas(cap) was called."""
    err = subprocess.run([sys.executable, "-c", _ARENAS, cap], capture_output=True, text=True, check=True).stderr
    assert sum(line.startswith("Arena ") for line in err.splitlines()) == expected, err


_GDAL_CACHE = textwrap.dedent("""
    import os, sys
    import numpy as np, rasterio
    from affine import Affine
    from rasterio import _env
    from irrmap.core.memory import drop_gdal_block_cache

    def rss():
        return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    path = sys.argv[1]
    with rasterio.open(path, "w", driver="GTiff", width=4096, height=4096, count=1, dtype="float32", tiled=True,
                       crs="EPSG:32650", transform=Affine(30, 0, 0, 0, -30, 0)) as dst:
        dst.write(np.random.default_rng(0).random((1, 4096, 4096), dtype=np.float32))
    with rasterio.Env(GDAL_CACHEMAX=512 * 2**20):
        src = rasterio.open(path)  # kept open, as the readers keep their datasets between chunks
        total = float(src.read(1, masked=False).sum())
        before = rss()
        dropped = drop_gdal_block_cache()
        after = rss()
        print(before, after, int(dropped), _env.get_gdal_config("GDAL_CACHEMAX"), int(src.read(1).sum() == total))
""")


def test_dropping_gdals_block_cache_frees_its_blocks_and_keeps_the_cap(tmp_path):
    """64 MB of float32 blocks read through an open dataset stay in GDAL's cache until dropped; the cap is
    restored and the dataset still reads the same values."""
    out = subprocess.run([sys.executable, "-c", _GDAL_CACHE, str(tmp_path / "r.tif")], capture_output=True, text=True, check=True).stdout
    before, after, dropped, cap, same = map(int, out.split())
    assert dropped == 1 and cap == 512 * 2**20 and same == 1
    assert before - after > 48 * 2**20, (before, after)
