"""LightGBM models compiled to C by TL2cgen, cached on disk: `compiled_predictor(estimator) -> CompiledC | None`.

TL2cgen (the DMLC tree-model compiler, fed by Treelite's LightGBM importer) writes each tree as nested C `if`s;
gcc/clang turns them into one shared library per model. Since irrmap's numba kernel (compiled_forest) walks
trees with unsigned indices it is faster on both kinds of LightGBM tree: 3.1 vs 2.2 M rows/s for 100 trees x
31 leaves (bit masks; `python benchmarks/bench_predict.py`), 0.85 vs 1.46 CPU-s for 1 M rows of 100 trees x 63
leaves (node by node), 2026-11-30. So the pipeline no longer uses it: ScopedClassifier.prepare_prediction
chooses it only when asked (`compiled_c=True`), and bench_predict keeps it in its table as the maintained
compiler to compare with. Random forests are not compiled: a 100-tree scikit-learn forest of about 2,700
nodes a tree takes minutes.

Results are bit for bit those of `compiled_forest.from_lightgbm(booster).predict`: both sum the leaf values in
float64 in tree order and apply the same sigmoid, and compare float32 inputs with the same thresholds. Each
library is checked once after it is compiled, on probe rows made of every split threshold (and the float32
just above it), NaN, +-inf and 0, at 1 and 2 threads; a library that differs is refused (a warning, and None).
Rows are independent in the C code, so the thread count never changes the bytes.

Cache: `cache_dir / "tl2cgen" / KEY / predictor.so` (+ `sha256`, the library's digest), where KEY is the
SHA-256 of the model's text (`Booster.model_to_string()`), the TL2cgen and Treelite versions, the compiler (its
path and `--version`), the machine type and the code-generation parameters. `cache_dir` defaults to
`$IRRMAP_CACHE_DIR`, else the platform's user cache folder (`platformdirs`, when installed), else
`$XDG_CACHE_HOME/irrmap` or `~/.cache/irrmap`. A library is compiled in a temporary folder beside it
(`.KEY.PID.partial.*`, removed on any error or Ctrl-C; a killed process's is removed by the next compile) and
the finished folder renamed into place, so concurrent processes (dask workers) never see a partial library; a
library whose digest is wrong or that fails to load is rebuilt.

Versions: tl2cgen 1.0.0 bundles Treelite 4.1.2 and reads models serialised by the `treelite` Python package;
pyproject's `fast` extra pins treelite==4.1.2 so the two agree (a newer treelite makes every compile print
"The model you are loading originated from a newer Treelite version"). TL2cgen's own log lines ("Parallel
compilation enabled ...") go to this module's logger at DEBUG, not to stdout.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numba
import numpy as np

from irrmap.core.atomic import remove_stale_partials
from irrmap.core.errors import InputError
from irrmap.core.manifest import sha256_file
from irrmap.models.compiled_forest import CompiledForest, from_lightgbm, plain_threshold_model

log = logging.getLogger(__name__)

FORMAT = 2  # cache layout and code generation (2: thresholds of LightGBM's zero band moved, plain_threshold_model); part of the key: bump it when either changes
PARALLEL_COMP = 8  # translation units per model: 100 trees x 31 leaves compile with 40 % less CPU than in one
PROBE_ROWS = 4096  # random rows of threshold values in the check after compiling
_LIB_FILE = "predictor" + {"darwin": ".dylib", "win32": ".dll"}.get(sys.platform, ".so")
_DIGEST_FILE = "sha256"
_FIX = "pip install 'irrmap[fast]' (tl2cgen and treelite) and a C compiler (gcc or clang); predictions use the numba kernel meanwhile"


class _Refused(Exception):
    """A compiled library whose predictions differ from the reference kernel's."""


_said: set[str] = set()
_said_lock = threading.Lock()


def _info_once(reason: str, msg: str, *args) -> None:
    """One INFO line per reason and process (hundreds of county models share one reason)."""
    with _said_lock:
        if reason in _said:
            return
        _said.add(reason)
    log.info(msg, *args)


def default_cache_dir() -> Path:
    """Where compiled libraries are cached when no `cache_dir` is given: `$IRRMAP_CACHE_DIR`, else the platform's
    user cache folder for irrmap (platformdirs), else `$XDG_CACHE_HOME/irrmap` or `~/.cache/irrmap`."""
    env = os.environ.get("IRRMAP_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    try:
        import platformdirs
    except ImportError:
        return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "irrmap"
    return Path(platformdirs.user_cache_dir("irrmap"))


@functools.cache
def _tl2cgen():
    """(tl2cgen, treelite) modules with TL2cgen's native log routed to DEBUG, or None when not installed."""
    try:
        import ctypes

        import tl2cgen
        import treelite
        from tl2cgen.libloader import _LIB
    except Exception as exc:  # ImportError, or TL2cgen's own error when its native library cannot load
        _info_once("tl2cgen", "LightGBM models are not compiled to C: tl2cgen/treelite cannot be imported (%s) (fix: %s)", exc, _FIX)
        return None

    @ctypes.CFUNCTYPE(None, ctypes.c_char_p)
    def native_log(msg: bytes) -> None:
        log.debug("TL2cgen: %s", msg.decode("utf-8", "replace").strip())

    _LIB.log_callback = native_log  # keep the callback alive, as tl2cgen does with its own
    _LIB.TL2cgenRegisterLogCallback(native_log)
    return tl2cgen, treelite


@functools.cache
def _compiler() -> tuple[str, str] | None:
    """(path, first line of `--version`) of the C compiler: $CC, else gcc, clang or cc on PATH; None without one."""
    for name in (os.environ.get("CC"), "gcc", "clang", "cc"):
        path = shutil.which(name) if name else None
        if not path:
            continue
        try:
            done = subprocess.run([path, "--version"], check=False, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError):
            continue
        if done.returncode == 0:
            return path, (done.stdout.splitlines() or [""])[0]
    _info_once("compiler", "LightGBM models are not compiled to C: no C compiler found ($CC, gcc, clang or cc) (fix: %s)", _FIX)
    return None


def _booster(estimator):
    """The LightGBM Booster of a Booster, an LGBMClassifier with classes [0, 1] or an LGBMRegressor; else None."""
    if hasattr(estimator, "model_to_string") and hasattr(estimator, "dump_model"):
        return estimator
    booster = getattr(estimator, "booster_", None)
    if booster is None:
        _info_once(f"family:{type(estimator).__name__}", "%s models are not compiled to C (only LightGBM boosters are: a "
                   "100-tree random forest takes minutes to compile); they use the numba kernel", type(estimator).__name__)
        return None
    if list(getattr(estimator, "classes_", [0, 1])) != [0, 1]:
        _info_once("classes", "LightGBM classifiers with classes other than [0, 1] are not compiled to C (fix: fit on labels 0/1)")
        return None
    return booster


def cache_key(model_text: str, compiler: tuple[str, str]) -> str:
    """SHA-256 (hex) of everything the compiled library depends on: the model's text, TL2cgen and Treelite
    versions, compiler path and version, machine type, FORMAT and the code-generation parameters."""
    tl2cgen, treelite = _tl2cgen()
    h = hashlib.sha256(model_text.encode("utf-8"))
    h.update(json.dumps([FORMAT, PARALLEL_COMP, tl2cgen.__version__, treelite.__version__, *compiler,
                         platform.machine(), sys.platform]).encode("utf-8"))
    return h.hexdigest()


def compiled_predictor(estimator, *, cache_dir=None, compile: bool = True) -> CompiledC | None:
    """A CompiledC for a fitted LightGBM binary classifier (classes [0, 1]) or regressor, or a Booster of the
    kinds `compiled_forest.from_lightgbm` accepts, compiled once and cached (see the module docstring for where).

    Returns None, with one INFO line per cause and process, when tl2cgen/treelite is not installed, no C
    compiler is found, the model is not a LightGBM model of those kinds (random forests, multiclass,
    categorical splits, ...), or compiling fails; with a WARNING when the compiled library's predictions differ
    from the numba kernel's. With `compile=False`, only a library already in the cache is used (None, silently,
    when there is none). Ctrl-C propagates (leaving no partial library). Raises nothing else.
    """
    booster = _booster(estimator)
    if booster is None or _tl2cgen() is None:
        return None
    compiler = _compiler()
    if compiler is None:
        return None
    text = booster.model_to_string()
    if "\nis_linear=1" in text:  # before the cache: a library an older irrmap built for it took its leaves as constants
        _info_once("family:linear_tree", "this LightGBM model is not compiled to C: %s; it is predicted by LightGBM",
                   "its trees are linear (linear_tree=True)")
        return None
    root = Path(cache_dir if cache_dir is not None else default_cache_dir()) / "tl2cgen"
    out = CompiledC(text, cache_key(text, compiler), root, booster.num_feature())
    if not compile and not out._intact():
        return None
    try:  # the model's kind is checked (from_lightgbm) only on a cache miss: a cached library passed that check
        out._load_or_build(lambda: (booster, from_lightgbm(booster)))
    except InputError as exc:
        _info_once(f"family:{exc.where}", "this LightGBM model is not compiled to C: %s; it uses the numba kernel", exc.what)
        return None
    except _Refused as exc:
        log.warning("the TL2cgen-compiled library %s is refused: %s (fix: none needed, this model uses the numba kernel, "
                    "whose results it should equal; report the model file and `pip show tl2cgen treelite`)", out.library, exc)
        return None
    except Exception as exc:  # compiler errors (TL2cgenError with gcc's log), unwritable cache folder, ...
        _info_once("compile", "LightGBM models are not compiled to C: compiling into %s failed: %s (fix: set IRRMAP_CACHE_DIR "
                   "to a writable folder or check the C compiler %s; the numba kernel is used meanwhile)", root, exc, compiler[0])
        return None
    return out


class CompiledC:
    """A LightGBM model as a TL2cgen-compiled shared library in the cache folder `root`/`key`.

    Safe to call from several threads at once (each thread loads its own TL2cgen Predictor). Pickles as the
    model's text, key and cache folder (no library handle): the copy loads the library on first use, and
    rebuilds it if that folder lacks it or holds a corrupt one (falling back to the numba kernel, with a
    warning, where it cannot be built).
    """

    def __init__(self, model_text: str, key: str, root, n_features: int):
        self._model_text = model_text
        self.key = key
        self.root = Path(root)
        self.n_features = int(n_features)
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._local = threading.local()
        self._ready = False
        self._fallback: CompiledForest | None = None

    def __getstate__(self):
        return {"model_text": self._model_text, "key": self.key, "root": str(self.root), "n_features": self.n_features}

    def __setstate__(self, state):
        self.__init__(state["model_text"], state["key"], state["root"], state["n_features"])

    @property
    def library(self) -> Path:
        return self.root / self.key / _LIB_FILE

    def predict_positive(self, X: np.ndarray, n_threads: int | None = None) -> np.ndarray:
        """The model's output (float64, shape (n,)) for every row of X (n, n_features; cast to float32, NaN =
        missing): P(class 1) for binary classifiers, the predicted value for regressors. `n_threads` None uses
        numba's thread count (numba.get_num_threads()); the bytes are the same for any count. Raises InputError
        when X does not have n_features columns."""
        X = np.ascontiguousarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise InputError(f"{X.shape[-1] if X.ndim else 0} features given, the model has {self.n_features}", "features",
                             f"give the model's {self.n_features} features in its training order")
        predictor = self._predictor(max(1, int(n_threads) if n_threads else numba.get_num_threads()))
        if predictor is None:
            return self._fallback.predict_positive(X, n_threads=n_threads)
        if X.shape[0] == 0:
            return np.empty(0, np.float64)
        out = predictor.predict(_tl2cgen()[0].DMatrix(X))
        return np.ascontiguousarray(out.reshape(X.shape[0], -1)[:, 0], dtype=np.float64)

    predict = predict_positive

    def _predictor(self, threads: int):
        """This thread's TL2cgen Predictor for `threads` threads (a Predictor serves one caller at a time), or
        None where the numba kernel stands in. A library removed or damaged since it was checked is rebuilt."""
        cache = self._local.__dict__.setdefault("predictors", {})
        for attempt in (0, 1):
            self._ensure()
            if self._fallback is not None:
                return None
            if threads not in cache:
                try:
                    cache[threads] = _tl2cgen()[0].Predictor(self.library, nthread=_omp_cap(threads))
                except Exception as exc:
                    if attempt:
                        raise
                    log.info("rebuilding the cached library %s: %s", self.library, exc)
                    with self._lock:
                        self._ready = False
                    continue
            return cache[threads]

    def _ensure(self) -> None:
        """Load (or rebuild) the library on first use after unpickling; fall back to the kernel if that fails."""
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            try:
                if _tl2cgen() is None or _compiler() is None:
                    raise RuntimeError("tl2cgen/treelite or a C compiler is missing here")
                self._load_or_build(self._from_text)
            except Exception as exc:
                log.warning("the compiled LightGBM library %s cannot be loaded or rebuilt here: %s (fix: %s)", self.library, exc, _FIX)
                self._fallback = self._from_text()[1]
            self._ready = True

    def _from_text(self) -> tuple:
        """(Booster, reference CompiledForest) rebuilt from the model's text."""
        import lightgbm

        booster = lightgbm.Booster(model_str=self._model_text)
        return booster, from_lightgbm(booster)

    def _load_or_build(self, model) -> None:
        """Use the cached library if intact and loadable, else compile, check and publish a new one;
        `model()` gives (Booster, reference CompiledForest), called only to compile."""
        with _key_lock(self.key):
            if not self._intact():
                booster, reference = model()
                _publish(_build(booster, reference, self.root, self.key), self.root / self.key)
            self._ready = True

    def _intact(self) -> bool:
        """Whether the cached library exists, matches its recorded digest and loads (logs why not, at INFO)."""
        lib, digest = self.library, self.root / self.key / _DIGEST_FILE
        if not lib.is_file():
            return False
        try:
            if not digest.is_file() or digest.read_text().strip() != sha256_file(lib):
                raise ValueError("its bytes differ from the digest recorded when it was compiled")
            _tl2cgen()[0].Predictor(lib, nthread=1)
        except Exception as exc:
            log.info("rebuilding the cached library %s: %s", lib, exc)
            return False
        return True


_key_locks: dict[str, threading.Lock] = {}
_key_locks_lock = threading.Lock()


def _key_lock(key: str) -> threading.Lock:
    """One lock per cache key: threads of a process compile a model once."""
    with _key_locks_lock:
        return _key_locks.setdefault(key, threading.Lock())


def _omp_cap(n: int) -> int:
    """`n` threads, at most OMP_NUM_THREADS when that is set: TL2cgen refuses more threads than OpenMP is configured for
    ('nthread cannot exceed 1'), and dask.distributed's workers run with OMP_NUM_THREADS=1, where every compile failed
    (its check at 2 threads) and the numba kernel stood in."""
    try:
        omp = int(os.environ.get("OMP_NUM_THREADS", "") or n)
    except ValueError:
        omp = n
    return max(1, min(n, omp))


def _build_threads() -> int:
    """Compiler processes for TL2cgen's create_shared: the CPUs, capped by _omp_cap."""
    return _omp_cap(os.cpu_count() or 1)


def _build(booster, reference: CompiledForest, root: Path, key: str) -> Path:
    """Compile the booster in a new temporary folder under `root`, check it against `reference` and record its
    digest; returns the folder. Raises _Refused on differing predictions, TL2cgen/OS errors on failure."""
    tl2cgen, treelite = _tl2cgen()
    root.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(root)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.{os.getpid()}.partial.", dir=root))
    try:
        src = tmp / "src"
        tl2cgen.generate_c_code(treelite.frontend.from_lightgbm(plain_threshold_model(booster)), src, {"parallel_comp": PARALLEL_COMP})
        built = tl2cgen.create_shared(_compiler()[0], src, nthread=_build_threads(), long_build_time_warning=False)
        os.replace(built, tmp / _LIB_FILE)
        shutil.rmtree(src)
        _check(tmp / _LIB_FILE, reference, booster.num_feature())
        (tmp / _DIGEST_FILE).write_text(sha256_file(tmp / _LIB_FILE) + "\n")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def _publish(tmp: Path, final: Path) -> None:
    """Rename the finished folder `tmp` to `final`, first moving a broken `final` aside (renames are atomic). An intact
    `final` (its library matches its recorded digest and loads: another process published the same key meanwhile) is
    kept and `tmp` dropped: moving a good library aside could pull it from under a process that has just checked it
    and is loading it (three processes compiling one model at once failed so, now and then, in CI)."""
    try:
        if _published(final):
            return
        if final.exists():
            aside = Path(tempfile.mkdtemp(prefix=f".{final.name}.{os.getpid()}.partial.", dir=final.parent))
            os.replace(final, aside / "old")
            shutil.rmtree(aside, ignore_errors=True)
        os.replace(tmp, final)
    except OSError:
        if not (final / _DIGEST_FILE).is_file():  # not another process's finished library: a real failure
            raise
        # another process published the same key meanwhile: theirs is as good as ours
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _published(final: Path) -> bool:
    """Whether `final` holds a library whose bytes match its recorded digest and that loads (a finished, renamed-in
    folder of another process)."""
    try:
        if (final / _DIGEST_FILE).read_text().strip() != sha256_file(final / _LIB_FILE):
            return False
        _tl2cgen()[0].Predictor(final / _LIB_FILE, nthread=1)
    except Exception:  # noqa: BLE001 - missing, unreadable or not loadable: not a usable library
        return False
    return True


def probe_rows(forest: CompiledForest, n_features: int, n: int = PROBE_ROWS, seed: int = 0) -> np.ndarray:
    """Rows (n + 4, n_features; float32) that reach the edges of every split: each value is drawn (seeded) from
    its feature's split thresholds, the float32 just above them, NaN, +-inf and 0; plus one row each of all
    NaN, all 0, all +inf and all -inf."""
    rng = np.random.default_rng(seed)
    internal = forest.child != np.arange(forest.child.size)
    special = np.array([np.nan, np.inf, -np.inf, 0.0], np.float32)
    X = np.empty((n + 4, n_features), np.float32)
    for j in range(n_features):
        t = forest.threshold[internal & (forest.feature == j)]
        X[:n, j] = rng.choice(np.concatenate([t, np.nextafter(t, np.float32(np.inf)), special]), size=n)
    X[n:] = special[:, None]
    return X


def _check(lib: Path, reference: CompiledForest, n_features: int) -> None:
    """Raise _Refused unless the library gives the reference's exact bytes on the probe rows, at 1 and 2 threads (1 only
    where OpenMP allows one: _omp_cap)."""
    tl2cgen = _tl2cgen()[0]
    X = probe_rows(reference, n_features)
    want = reference.predict(X, n_threads=1).view(np.int64)
    for threads in sorted({1, _omp_cap(2)}):
        got = tl2cgen.Predictor(lib, nthread=threads).predict(tl2cgen.DMatrix(X)).reshape(len(X), -1)[:, 0]
        bad = np.flatnonzero(np.ascontiguousarray(got, np.float64).view(np.int64) != want)
        if bad.size:
            raise _Refused(f"{bad.size} of {len(X)} probe rows differ from the numba kernel's prediction at {threads} "
                           f"thread(s) (first: row {bad[0]})")
