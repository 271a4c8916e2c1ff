"""The features stage reads its series in [run].chunk_size chunks unless [features].chunks says otherwise."""

from __future__ import annotations

import pytest

from irrmap.app.cli import main


@pytest.mark.parametrize(("features_chunks", "expected"), [(None, 256), (128, 128)])
def test_series_chunks_follow_the_run(tmp_path, monkeypatch, features_chunks, expected):
    import irrmap.training.sscore as sscore
    from irrmap.app.context import RunContext
    from irrmap.app.stages import build_stages, features
    from irrmap.core.config import load_config

    assert main(["-q", "demo", str(tmp_path / "d"), "--rows", "48", "--cols", "56"]) == 0
    cfg = (tmp_path / "d" / "config.toml").read_text().replace("chunk_size = 512", "chunk_size = 256", 1)
    if features_chunks:
        cfg = cfg.replace("[features]\n", f"[features]\nchunks = {features_chunks}\n", 1)
    (tmp_path / "d" / "config.toml").write_text(cfg)
    seen = {}

    def spy(section, *a, **k):
        seen["chunks"] = section.get("chunks")
        raise RuntimeError("stop here")

    monkeypatch.setattr(sscore, "composite_rasters", spy)
    loaded = load_config(tmp_path / "d" / "config.toml")
    ctx = RunContext(loaded, loaded.grid(), loaded.output_dir)
    for st in build_stages(ctx):
        if st.enabled(ctx):
            ctx.products.update(st.provides(ctx))
    monkeypatch.setattr(features, "read_product", lambda *a, **k: None)
    monkeypatch.setattr(features, "zones_and_codes", lambda ctx: (None, None))
    monkeypatch.setattr(features.pd, "read_csv", lambda *a, **k: None)  # the suitability stage's unit table
    with pytest.raises(RuntimeError, match="stop here"):
        features.run(ctx)
    assert seen["chunks"] == expected
