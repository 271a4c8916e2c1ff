"""RunContext.checksum_all hashes a stage's inputs several files at a time: the digests are hashlib's SHA-256 of
each file's bytes (computed here in one piece), whatever the thread count, and a missing file raises as before."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import numpy as np
import pytest

from irrmap.app.context import RunContext


def _ctx(tmp_path):
    loaded = SimpleNamespace(resolve=lambda p: p if p.is_absolute() else tmp_path / p)
    return RunContext(loaded, grid=None, outdir=tmp_path)


def test_digests_equal_hashlib_and_are_kept(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    files = []
    for k, size in enumerate([0, 1, 2047, 1 << 20, (3 << 20) + 5]):  # empty, under hashlib's GIL limit, several reads
        p = tmp_path / f"f{k}.bin"
        p.write_bytes(rng.integers(0, 256, size, dtype=np.uint8).tobytes())
        files.append(p)
    for threads in (1, 2, 4):
        monkeypatch.setattr("os.cpu_count", lambda threads=threads: threads)
        ctx = _ctx(tmp_path)
        ctx.checksum_all(files + [files[2], "f3.bin"])  # repeats and a relative path: hashed once
        assert set(ctx.checksums) == {str(p) for p in files}
        for p in files:
            assert ctx.checksum(p) == hashlib.sha256(p.read_bytes()).hexdigest()


def test_missing_file_raises(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"a")
    with pytest.raises(FileNotFoundError):
        _ctx(tmp_path).checksum_all([tmp_path / "a.bin", tmp_path / "missing.bin"])
