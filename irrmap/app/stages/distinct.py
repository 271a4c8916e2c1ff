"""One file for two roles: refuse a config that gives the same data for inputs that must differ.

Precipitation given the PET file makes the aridity index P / PET 1.0 everywhere; the same file as NIR and green
makes GI 1.0; one scene in two epochs shows no change. Each run silently. Here every raster a role reads is
identified by its file (the same resolved path, the same inode through a link, or, for two files of one size,
the same SHA-256 of their bytes, computed with the run's checksum cache) and what is read from it (the layer, the
classes of a fraction, a series' `contains` / `band` / `variable`). Two keys of different meaning that read the
same thing are refused, naming both keys; keys of one meaning (the cropland share of [suitability], [training],
[features] and [reconcile]) may share it. Reads only metadata and, for same-size files, their checksums.
"""

from __future__ import annotations

from dataclasses import dataclass

from irrmap.app.context import RunContext
from irrmap.core.config import feature_series
from irrmap.core.errors import DataError, raise_all
from irrmap.core.file_identity import file_identities


@dataclass(frozen=True)
class Use:
    """One config key reading data: its `meaning` (keys of one meaning may share data), the `key` as the user
    wrote it, the file or dataset name read, `what` is read from it, `shown` (how the message names it) and the
    `group`, the list it is an item of."""

    meaning: str
    key: str
    path: str
    what: tuple
    shown: str
    group: str = ""  # the list the key is an item of ([water].epochs.2020): one file twice in it is refused


def _product_use(ctx: RunContext, meaning: str, key: str, name: str) -> Use | None:
    """The data product `name` stands for: an [inputs.NAME] file with its layer (and classes of a fraction), or
    the file an earlier stage writes."""
    spec = ctx.config.inputs.get(name)
    if spec is None:
        path = ctx.products.get(name)
        return Use(meaning, key, str(path), ("product",), f"{key} = {name!r}") if path is not None else None
    path = str(ctx.path(spec.path))
    classes = tuple(sorted(spec.classes or ())) if spec.kind == "fraction" else None
    return Use(meaning, key, path, ("raster", _layer(path, spec.band), classes),
               f"{key} = {name!r} ([inputs.{name}].path = {spec.path}" + (f", band {spec.band}" if spec.band is not None else "")
               + (f", classes {list(classes)}" if classes else "") + ")")


def _layer(path: str, band):
    """The 1-based layer `band` names (None: 1), read from the file for a layer name; the name itself when the file
    cannot tell (the inputs' own checks report that)."""
    if band is None or isinstance(band, int):
        return band or 1
    try:
        import rasterio

        from irrmap.core.layers import layer_number

        with rasterio.open(path) as src:
            return layer_number(src, band, path)
    except Exception:  # noqa: BLE001 - unreadable or unknown layer: reported by the stage checks
        return str(band).casefold()


def role_uses(ctx: RunContext) -> list[Use]:
    """Every key of the config whose data must differ from the data of keys of another meaning."""
    cfg, uses = ctx.config, []

    def product(meaning: str, key: str, name: str | None) -> None:
        use = _product_use(ctx, meaning, key, name) if name else None
        if use is not None:
            uses.append(use)

    sec = cfg.suitability
    if sec is not None:
        product("elevation", "[suitability].dem", sec.dem)
        product("water", "[suitability].water", sec.water)
        product("aridity index", "[suitability].aridity", sec.aridity)
        if not sec.aridity:
            product("precipitation", "[suitability].precipitation", sec.precipitation)
            product("potential evapotranspiration", "[suitability].pet", sec.pet)
        if sec.few_crop_min_pixels > 0:
            product("cropland", "[suitability].cropland", sec.cropland)
    if cfg.training is not None:
        product("cropland", "[training].cropland", cfg.training.cropland)
    if cfg.features is not None:
        # the products the stage reads: the default shares only when produced, `other` not with mixed = false
        from irrmap.app.stages.features import read_names

        feats = cfg.features
        for k, name in read_names(ctx).items():
            if isinstance(name, str):
                product("cropland" if k == "cropland" else f"[features].{k} share", f"[features].{k}", name)
        uses += _series_uses(ctx, feats)
    if cfg.water is not None:
        uses += _files("[water]", "epochs", cfg.water.epochs, ctx) + _files("[water]", "reference", cfg.water.reference, ctx)
    if cfg.treecover is not None:
        tc = cfg.treecover
        uses += _files("[treecover]", "epochs", tc.epochs, ctx) + _files("[treecover]", "truth", tc.truth, ctx)
        uses.append(Use("[treecover].reference", "[treecover].reference", str(ctx.path(tc.reference)), ("file",),
                        f"[treecover].reference = {tc.reference}"))
    if cfg.reconcile is not None:
        for name, t in cfg.reconcile.tables.items():
            what = ("table", t.sheet, t.level, t.code_field, t.area_field, t.year_field, t.year, t.variant_field, t.variant)
            uses.append(Use(f"table {name}", f"[reconcile.tables.{name}]", str(ctx.path(t.path)), what,
                            f"[reconcile.tables.{name}] (path = {t.path})"))
    return uses


def _files(section: str, field: str, by_label: dict, ctx: RunContext) -> list[Use]:
    """Uses of a label -> file(s) table ([water].epochs, [treecover].truth): the files of an epoch share its meaning
    across sections (the demo's water and tree cover read the same scenes), other labels are each their own; one
    file in two epochs shows no change, one file twice in an epoch's list is counted twice."""
    out = []
    for label, files in by_label.items():
        files = files if isinstance(files, (list, tuple)) else [files]
        meaning = f"epoch {label}" if field == "epochs" else f"{section}.{field}.{label}"
        for i, f in enumerate(files):
            key = f"{section}.{field}.{label}" + (f"[{i}]" if len(files) > 1 else "")
            out.append(Use(meaning, key, str(ctx.path(f)), ("file",), f"{key} = {f}", f"{section}.{field}.{label}"))
    return out


def _series_uses(ctx: RunContext, feats: dict) -> list[Use]:
    """[features] series: each one's source (with contains / band / variable) its own meaning; QA files one shared
    meaning (evi and ndvi read the same VI_Quality), which must differ from every source."""
    out = []
    for key, spec, cube in feature_series(feats):
        parts = [("source", key, ("series", spec.get("contains"), spec.get("band"), spec.get("variable")))]
        if not cube:
            parts.append(("qa", "QA", ("series", spec.get("qa_contains"), spec.get("qa_band"), None)))
        for part, meaning, what in parts:
            value = spec.get(part)
            for v in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(v, str):
                    out.append(Use(meaning, f"[features].{key}.{part}", str(ctx.path(v)), what, f"[features].{key}.{part} = {v}"))
    return out


def _file_ids(ctx: RunContext, uses: list[Use]) -> dict[str, str]:
    """path -> an id shared by paths holding the same bytes (irrmap.core.file_identity), hashing with
    ctx.checksum (cached, reused by the stage fingerprints)."""
    return file_identities((u.path for u in uses), digest=ctx.checksum)


def check_distinct_roles(ctx: RunContext) -> None:
    """DataError for each pair of config keys of different meaning that read the same data (module docstring)."""
    uses = role_uses(ctx)
    if len(uses) < 2:
        return
    ids = _file_ids(ctx, uses)
    seen: dict[tuple, Use] = {}
    problems = []
    for u in uses:
        first = seen.setdefault((ids[u.path], u.what), u)
        twice = first is not u and bool(u.group) and first.group == u.group
        if first is u or (first.meaning == u.meaning and not twice):
            continue
        how = "the same file" if first.path == u.path else (
            "the same file through a link" if ids[u.path].startswith("inode:") else "files with identical bytes (same SHA-256)")
        why = "one file listed twice" if twice else f"{first.meaning} and {u.meaning}"
        problems.append(DataError(
            f"{first.shown} and {u.shown} read the same data ({how}{_detail(u)}), but they must differ ({why})",
            f"{first.key} / {u.key}", f"point {u.key} (or {first.key}) at its own data"))
    raise_all(problems, str(ctx.loaded.path))


def _detail(u: Use) -> str:
    if u.what and u.what[0] == "raster":
        return f", layer {u.what[1]}"
    return ""
