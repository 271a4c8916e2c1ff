"""A digest of the code that computes a run's outputs, for the stage fingerprints of `irrmap run`.

A stage is skipped when its fingerprint matches the last successful run. The fingerprint named the irrmap version
only, which does not change between releases of a working copy or an editable install: after a fix to how areas are
summed, a plain `irrmap run` kept the stale outputs of the old code ("skipped (up to date)"). The digest covers the
Python source of irrmap and of its stage packages (irrmap.mapping, .training, .suitability, .models, .evaluation,
...), so changed code reruns the stages, and an unchanged installation never does.
"""

from __future__ import annotations

import hashlib
import importlib.util
from functools import lru_cache
from pathlib import Path

#: the packages whose source decides outputs: irrmap and the stage packages installed under its name (setup.py)
PACKAGES = ("irrmap", "irrmap.mapping", "irrmap.training", "irrmap.suitability", "irrmap.models", "irrmap.evaluation")


@lru_cache(maxsize=1)
def code_digest() -> str:
    """`digest_of(PACKAGES)`, computed once per process (about 20 ms for irrmap's ~600 files)."""
    return digest_of(PACKAGES)


def digest_of(packages) -> str:
    """SHA-256 (hex) over every .py file of the importable `packages` (each file's path relative to its package
    root, then its bytes), in sorted order; a package that cannot be found contributes nothing."""
    h = hashlib.sha256()
    roots = []
    for name in packages:
        spec = importlib.util.find_spec(name)
        for loc in (spec.submodule_search_locations or []) if spec is not None else []:
            roots.append((name, Path(loc)))
    seen = set()
    for name, root in sorted(roots, key=lambda r: (r[0], str(r[1]))):
        for path in sorted(root.rglob("*.py")):
            real = path.resolve()
            if real in seen or "__pycache__" in path.parts:
                continue
            seen.add(real)
            h.update(f"{name}/{path.relative_to(root).as_posix()}\0".encode())
            h.update(path.read_bytes())
    return h.hexdigest()


__all__ = ["PACKAGES", "code_digest", "digest_of"]
