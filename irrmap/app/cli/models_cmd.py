"""`irrmap models`: fit a classifier on a training pool (with spatially blocked CV) and inspect model cards."""

from __future__ import annotations

from irrmap.app.cli import add_group
from irrmap.app.cli.value_types import CV_SPLITS, SEED, int_arg


def register(sub, name: str, help_: str) -> None:
    cmds = add_group(sub, name, help_)
    p = cmds.add_parser(
        "fit",
        help="fit a classifier on a training pool; writes MODEL.joblib and MODEL.card.json",
        description="Fits random forest (rf, the method: 100 trees, min leaf 10) or LightGBM (lgbm, lgbm-rf), globally, per "
                    "province or per county, then reports spatially blocked and random-split cross-validation (OA, kappa). "
                    "Model files are pickles: share and load them only between trusted parties.",
    )
    p.add_argument("pool", help="training pool GeoParquet from `irrmap training pool`")
    p.add_argument("--out", required=True, help="output model file (.joblib); the card is written beside it")
    p.add_argument("--model", default="rf", choices=["rf", "lgbm", "lgbm-rf"], help="classifier (default rf, the method's)")
    p.add_argument("--scope", default="global", choices=["global", "province", "county"], help="one model overall, per province or per county")
    p.add_argument("--features", nargs="+",
                   help="predictor columns in order (default: every numeric pool column but unit/zone/label/row/col, which are "
                        "refused as features)")
    p.add_argument("--seed", type=SEED, default=0, help="seed of the forest and the CV folds, 0 or more (default 0)")
    p.add_argument("--cv-blocks", default="40", help="CV hold-out: block size in pixels, 'units' for whole units, 0 to skip (default 40)")
    p.add_argument("--cv-splits", type=CV_SPLITS, default=5, help="cross-validation folds, 2 or more (default 5)")
    p.add_argument("--max-per-class", type=int_arg(0), default=100_000, metavar="N",
                   help="fit (and cross-validate) on at most N samples of each class, a seeded random sample of the pool; 0: "
                        "all (default 100000, the run's [models].max_per_class, so the same pool gives the run's model)")
    p.add_argument("--jobs", type=int_arg(0), default=1, help="threads for fitting per-unit models (0: one per core; default 1)")
    p.set_defaults(func=_fit)

    p = cmds.add_parser("info", help="show a model card and check the model file's checksum")
    p.add_argument("model", help="model file (.joblib)")
    p.set_defaults(func=_info)


def _fit(args) -> int:
    from pathlib import Path

    from irrmap.core.errors import InputError
    from irrmap.core.output_paths import refuse_overwriting_inputs
    from irrmap.core.relative_path import relative_to_folder
    from irrmap.models import fit_from_pool, read_pool, save_model
    from irrmap.models.persistence import card_path

    if Path(args.out).is_dir():
        raise InputError(f"{args.out} is a folder; the model is a file", "--out",
                         f"give a model file name, e.g. {Path(args.out) / 'model.joblib'} (its card is written beside it)")
    refuse_overwriting_inputs({"POOL": args.pool}, [args.out, card_path(args.out)])
    pool = read_pool(args.pool)
    cv = args.cv_blocks
    if cv not in ("units",):
        if not str(cv).isdigit():
            raise InputError(f"bad --cv-blocks {cv!r}", "--cv-blocks", "give a pixel count, 'units' or 0")
        cv = int(cv) or None
    model, card = fit_from_pool(pool, model=args.model, scope=args.scope, features=args.features, seed=args.seed, cv_blocks=cv,
                                cv_splits=args.cv_splits, n_jobs=args.jobs, max_per_class=args.max_per_class,
                                pool_name=str(args.pool))
    card["pool"] = relative_to_folder(args.pool, Path(args.out).parent)  # from the card's folder: the same bytes in any folder
    card = save_model(model, args.out, card)
    _print_card(card)
    print(f"-> {args.out}")
    return 0


# kinds of file (irrmap.core.output_paths.file_kind) that no model file is: joblib writes pickles, optionally compressed
NOT_A_MODEL = ("text", "tiff", "parquet", "sqlite", "png", "pdf", "shapefile", "jpeg", "hdf", "netcdf", "empty")


def _utf8(path) -> bool:
    with open(path, "rb") as f:
        head = f.read(4096)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3  # only a character cut at the end of the 4 KiB read
    return True


def refuse_non_model(path, option: str = "MODEL") -> None:
    """InputError when `path` is an existing file that is not a model file by its first bytes (a CSV table, a GeoTIFF,
    a GeoParquet pool, an empty file...) and has no model card beside it, naming what it is and what is expected, before
    its missing card is reported. A file with its card is left to load_model, which checks it (checksum, unpickling)."""
    from pathlib import Path

    from irrmap.core.errors import InputError
    from irrmap.core.output_paths import KIND_TEXT, file_kind

    from irrmap.models.persistence import card_path

    if not Path(path).is_file() or Path(card_path(path)).exists():
        return  # a model's card beside it: load_model checks the file itself (checksum, unpickling)
    kind = file_kind(path)
    if kind == "text" and not _utf8(path):
        return  # no NUL byte in its first 4 KiB, but not text either (a compressed joblib file can look so)
    if kind in NOT_A_MODEL:
        what = "an empty file" if kind == "empty" else KIND_TEXT[kind]
        raise InputError(f"{path} is {what}, not a model file: {option} expects the .joblib file written by `irrmap models fit` "
                         "(with its MODEL.card.json beside it)", option,
                         "give the model file, e.g. model.joblib of `irrmap models fit --out model.joblib`")


def _info(args) -> int:
    from irrmap.models import load_model
    from irrmap.models.persistence import is_irrmap_model

    refuse_non_model(args.model)

    # verifies the card, the checksum and that the file unpickles (InputError: one line naming the file and the fix)
    model, card = load_model(args.model, irrmap_model=False)
    _print_card(card)
    print("checksum: ok")
    if not is_irrmap_model(model):
        print(f"model object: {type(model).__module__}.{type(model).__name__}, not an irrmap model: "
              "`irrmap mapping predict` refuses it (fix: fit the model with `irrmap models fit`)")
    return 0


def _print_card(card: dict) -> None:
    from irrmap.core.json_out import score_text

    s = card.get("samples") or {}  # cards of other versions or tasks (tree cover) lack some keys: print what is there
    single = s.get("single_class_keys")
    print(f"model {card.get('model', '?')}, scope {card.get('scope', card.get('task', '?'))}, seed {card.get('seed', '?')}"
          + (f": {s['models']} fitted models, {len(single or {})} single-class units" if "models" in s else ""))
    if "total" in s:
        print(f"samples {s['total']} ({s.get('irrigated', '?')} irrigated, {s.get('not_irrigated', '?')} not)")
    elif "used" in s:
        print(f"samples {s['used']}")
    print(f"features ({len(card['features'])}): {', '.join(card['features'])}")
    cv = card.get("cv")
    if cv:
        b, r = cv["blocked"], cv["random"]
        # cards before the out-of-bag random split have no "method": their random split was random folds
        how = r.get("method", f"{cv['n_splits']}-fold random")
        unscored = f", {r['unscored']} samples no tree left out" if r.get("unscored") else ""
        print(f"CV ({cv['n_splits']} folds, held out: {cv['held_out']}): OA {score_text(b['oa'])} kappa {score_text(b['kappa'])}"
              f"{' (one class in the held-out samples)' if score_text(b['kappa']) == 'undefined' else ''}; "
              f"random split ({how}{unscored}) OA {score_text(r['oa'])} kappa {score_text(r['kappa'])} "
              f"(optimism {score_text(cv['optimism_oa'], '+.3f')})")
    if card.get("oob_score") is not None:
        print(f"out-of-bag accuracy {score_text(card['oob_score'])}")
