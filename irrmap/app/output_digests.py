"""Outputs changed after their stage wrote them: a stage whose outputs exist is skipped only when each still holds the
bytes it wrote.

Before, `irrmap run` skipped a stage when its fingerprint matched and its recorded outputs *existed*; a product edited
in place afterwards (`gdal_edit.py`, an editor, a partial sync, a disk error: OUTPUT/aligned/cropland.tif with a third
of its pixels set to 0) was kept, and every later stage reran on it with no error (a probe's run mapped 3,490 ha
instead of 4,327 ha, OA 0.717 instead of 0.849). Now the run state (irrmap.app.run_state) keeps the SHA-256 of each
output file as its stage wrote it (with its companions: an .aux.xml added beside it changes how GDAL reads it;
irrmap.app.context.input_digest), and a stage whose output no longer has it reruns, with the reason "outputs changed
since written: NAMES". Digests come from the run's DigestCache (irrmap.core.manifest), so an unchanged file is not
hashed again; a copied or moved run folder keeps its digests (they are of the bytes, not of the file's identity).
Folders a stage writes (tile and resume folders) are not digested: only regular files."""

from __future__ import annotations

from pathlib import Path

from irrmap.app.context import RunContext, input_digest
from irrmap.app.run_state import located, stored_path


def output_digests(outputs, ctx: RunContext, outdir: Path, base: Path) -> dict[str, str]:
    """{output as the state stores it (run_state.stored_path): digest} of the regular files among `outputs`."""
    return {stored_path(p, outdir, base): input_digest(str(p), ctx._sha256) for p in outputs if Path(p).is_file()}


def changed_outputs(prev: dict, ctx: RunContext, outdir: Path) -> list[str]:
    """The outputs of a stage's last run (`prev`, its record in the run state) whose digest is no longer the one
    recorded, relative to `outdir` where they lie in it; [] for a record without digests (an older irrmap's) and for
    missing files (rerun_reason names those as missing)."""
    out = []
    for stored, digest in (prev.get("digests") or {}).items():
        p = located(stored, outdir)
        if p.is_file() and input_digest(str(p), ctx._sha256) != digest:
            out.append(str(p.relative_to(outdir)) if p.is_relative_to(outdir) else str(p))
    return out
