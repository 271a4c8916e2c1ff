"""Atomic file creation: write to a hidden temporary beside the target, rename only when complete.

An interrupted run therefore never leaves a half-written file under the final name.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def partial_path(path, suffix: str = "") -> Path:
    """The temporary name used while `path` is being written (same folder, so rename is atomic)."""
    p = Path(path)
    return p.with_name(f".{p.name}.{os.getpid()}.partial{suffix or p.suffix}")


@contextlib.contextmanager
def atomic_path(path, suffix: str = ""):
    """Yield a temporary path; on success rename it to `path`, on error delete it and re-raise."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(target, suffix)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def write_text_atomic(path, text: str) -> Path:
    """Write a small text file atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    return Path(path)
