"""A skipped stage of a moved (or copied) run folder repeats its warnings naming the files where they now are.

Before, the warnings kept in the run state held the absolute folder of the run that wrote them: after `mv run moved`
and `irrmap run moved/config.toml` (every stage but the evaluation skipped, as documented), the report, results.json
and manifest.json quoted the old folder, e.g. the tree-cover warning naming /old/output/treecover/change.csv
(probe1 item 4). Truth: the path the file has now (it exists there) and the old folder's absence from the warnings.
"""

from __future__ import annotations

import logging
import shutil

from irrmap.app.context import Stage
from irrmap.app.pipeline import run_pipeline
from irrmap.app.run_state import located_message, stored_message

log = logging.getLogger("irrmap.test.moved")


def _stage():
    def run(ctx):
        out = ctx.outdir / "layer" / "table.csv"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("a\n1\n")
        src = ctx.outdir.parent / "inputs" / "x.tif"
        log.warning("3 units lie outside the map in %s (read from '%s')", out, src)
        return [out]

    return Stage("probe", run, inputs=lambda ctx: [], params=lambda ctx: {}, enabled=lambda ctx: True)


def _config(folder):
    folder.mkdir(parents=True)
    (folder / "config.toml").write_text('[run]\nname = "g"\noutput_dir = "output"\n[grid]\ncrs = "EPSG:4326"\n'
                                        'bounds = [100.0, 40.0, 100.2, 40.1]\nresolution = 0.00225\n')
    return folder / "config.toml"


def _messages(manifest):
    return [w["message"] for w in manifest["warnings"] if w["stage"] == "probe"]


def test_a_moved_run_names_its_new_folder(tmp_path):
    old = tmp_path / "runs" / "d"
    first = run_pipeline(_config(old), stages=[_stage()])
    assert _messages(first) == [f"3 units lie outside the map in {old}/output/layer/table.csv (read from '{old}/inputs/x.tif')"]
    new = tmp_path / "elsewhere" / "moved"
    new.parent.mkdir()
    shutil.move(old, new)
    again = run_pipeline(new / "config.toml", stages=[_stage()])
    assert again["stages"]["probe"]["status"] == "skipped (up to date)"
    (msg,) = _messages(again)
    assert msg == f"3 units lie outside the map in {new}/output/layer/table.csv (read from '{new}/inputs/x.tif')"
    assert (new / "output" / "layer" / "table.csv").exists() and str(old) not in msg


def test_a_rerun_in_place_keeps_the_same_words(tmp_path):
    d = tmp_path / "d"
    first = _messages(run_pipeline(_config(d), stages=[_stage()]))
    assert _messages(run_pipeline(d / "config.toml", stages=[_stage()])) == first


def test_only_whole_folder_names_are_replaced():
    out, base = "/r/d/output", "/r/d"
    msg = "a /r/d/output/x.tif, b /r/d/output2/y.tif, c /r/dd/z.tif, d /r/d"
    kept = stored_message(msg, out, base)
    assert "/r/dd/z.tif" in kept and "output2/y.tif" in kept
    assert located_message(kept, "/n/m/output", "/n/m") == "a /n/m/output/x.tif, b /n/m/output2/y.tif, c /r/dd/z.tif, d /n/m"
