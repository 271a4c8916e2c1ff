"""Aridity index AI = sum P / sum PET, with PET from rasters or from meteorology by Priestley-Taylor.

The Priestley-Taylor form is the one in the authors' code (METHOD.md section 2): an alpha that falls with
relative humidity, soil heat flux G = 0, and net radiation from shortwave with an albedo plus net longwave
with the Idso-Jackson clear-sky emissivity (surface emissivity 0.97).
"""

from __future__ import annotations

import logging

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor this module uses)
import xarray as xr

from irrmap.core.array_input import raster_arg, same_grid
from irrmap.core.errors import InputError
from irrmap.suitability import guards

log = logging.getLogger("irrmap.suitability")
MONTHS = 12  # monthly steps of one year: their sum is an annual total

SIGMA = 5.670374419e-8  # Stefan-Boltzmann constant, W m-2 K-4
GAMMA = 0.066  # psychrometric constant, kPa / degC


def priestley_taylor_pet(temperature, relative_humidity, shortwave, *, albedo=0.23, seconds: float = 86400.0):
    """Potential evapotranspiration (mm per `seconds`, default mm/day) by the method's Priestley-Taylor form.

    `temperature` in degC, `relative_humidity` in percent, `shortwave` (incoming solar radiation) as the
    period's mean in W m-2, `albedo` 0..1 (scalar or array). PET = max(a D/(D+g) Rn/L, 0) with
    a = 2.33 - 0.014 RH, D = 4098 es/(T+237.3)^2, es = 0.6108 exp(17.27 T/(T+237.3)), L = 2.501e6 - 2361 T,
    Rn = (1-albedo) Rs + (ea - 0.97) sigma (T+273.15)^4, ea = 1 - 0.26 exp(-7.77e-4 T^2).
    Works on numbers, numpy, dask or xarray (NaN propagates).
    """
    t = temperature
    es = 0.6108 * np.exp(17.27 * t / (t + 237.3))
    delta = 4098.0 * es / (t + 237.3) ** 2
    alpha = 2.33 - 0.014 * relative_humidity
    lam = 2.501e6 - 2361.0 * t
    emissivity = 1.0 - 0.26 * np.exp(-7.77e-4 * t * t)
    rn = (1.0 - albedo) * shortwave + (emissivity - 0.97) * SIGMA * (t + 273.15) ** 4
    pet = alpha * delta / (delta + GAMMA) * rn / lam * seconds  # kg m-2 = mm
    out = np.maximum(pet, 0.0)
    if isinstance(out, xr.DataArray):
        out = out.astype(np.float32, copy=False)  # float32 inputs already give float32: no second array
        out.name = "pet"
        out.attrs["units"] = "mm"
    return out


def _total(x, dim):
    if isinstance(x, (list, tuple)):
        total = x[0]
        for item in x[1:]:
            total = total + item
        return total
    if isinstance(x, xr.DataArray) and dim is not None and dim in x.dims:
        return x.sum(dim, skipna=False)
    return x


def check_step_counts(n_precip: int, n_pet: int, where: str = "aridity", options: tuple[str, str] = ("--precip", "--pet")) -> None:
    """Precipitation and PET given as `n_precip` and `n_pet` step rasters must cover the same period: different counts
    raise InputError (3 months of precipitation against a year of PET gives an AI 4x too small), except a single
    annual total on one side against MONTHS monthly totals on the other (both sums are annual), which is logged."""
    if n_precip == n_pet:
        return
    p_opt, e_opt = options
    if {n_precip, n_pet} == {1, MONTHS}:
        one, many = (p_opt, e_opt) if n_precip == 1 else (e_opt, p_opt)
        log.info("%s: %s is one raster, taken as an annual total; %s are %d rasters, taken as monthly totals and summed "
                 "over the year", where, one, many, MONTHS)
        return
    raise InputError(f"{n_precip} precipitation step(s) ({p_opt}) but {n_pet} PET step(s) ({e_opt}): the aridity index "
                     f"sum P / sum PET needs both over the same period (3 months of rain against a year of PET gives "
                     "an index 4x too small)", where,
                     "give the same steps for both (e.g. 12 monthly rasters each), or one annual total against 12 "
                     "monthly rasters")


def api_source(func: str, name: str) -> guards.Source:
    """The guards' Source of a DataArray given to the Python API: messages name `func(name)`, fixes say how to scale
    or declare nodata on the DataArray (not the command line's options)."""
    return guards.Source(f"{func}({name})", lambda f: f"multiply it by {f:.10g} first ({name} * {f:.10g})",
                         lambda v: f"declare the fill value as nodata: {name}.rio.write_nodata({v:g})")


def _rasters(x, name: str, dim):
    """Each raster of an argument (a DataArray with or without `dim`, or a list of 2-D DataArrays) checked and decoded
    (irrmap.core.array_input.raster_arg)."""
    if isinstance(x, (list, tuple)):
        return [raster_arg(v, f"{name}[{k}]", "aridity_index", georeferenced=False) for k, v in enumerate(x)]
    if isinstance(x, xr.DataArray) and dim is not None and dim in x.dims:
        return raster_arg(x, name, "aridity_index", dims=(dim, "y", "x"), georeferenced=False)
    return raster_arg(x, name, "aridity_index", georeferenced=False)


def _first(x):
    return x[0] if isinstance(x, list) else x


def aridity_index(precipitation, pet, *, dim: str | None = "time", check: bool = True) -> xr.DataArray:
    """AI = sum P / sum PET over a period (float32; lower = drier).

    Each argument is a 2-D DataArray (y, x) with a CRS (already a total), a list of them (one per time step), or
    a DataArray with dimension `dim` (dims (dim, y, x)). Declared nodata (`.rio.nodata`, `_FillValue`, ...) is
    missing and an undecoded `scale_factor` applied (irrmap.core.array_input). A pixel missing in any step is NaN;
    so is a pixel whose PET total is not positive. Lists of different lengths raise InputError
    (check_step_counts), except 1 annual total against 12 months; rasters on different grids raise GridError.

    `check` (default on): the totals are annual totals in mm/year, checked as the CLI and `irrmap run` check them
    (guards.check_precipitation_pet: InputError for negative values, PET or precipitation medians no climate gives,
    an AI median above 30; a warning for an AI median above 3, precipitation likely 10x too large). Turn it off for
    totals over another period or when the caller has checked them.
    """
    precipitation, pet = _rasters(precipitation, "precipitation", dim), _rasters(pet, "pet", dim)
    if isinstance(precipitation, list) and isinstance(pet, list):
        check_step_counts(len(precipitation), len(pet), "aridity_index", ("precipitation", "pet"))
    rasters = {f"precipitation[{k}]": v for k, v in enumerate(precipitation)} if isinstance(precipitation, list) else {"precipitation": precipitation}
    rasters.update({f"pet[{k}]": v for k, v in enumerate(pet)} if isinstance(pet, list) else {"pet": pet})
    same_grid(rasters, "aridity_index")
    p = _total(precipitation, dim)
    e = _total(pet, dim)
    if check:
        guards.check_precipitation_pet(p, e, api_source("aridity_index", "precipitation"), api_source("aridity_index", "pet"))
    positive = e > 0
    ai = xr.where(positive, p / e.where(positive), np.nan)
    del positive
    ai = ai.astype(np.float32, copy=False)  # xr.where's result is new: no copy when it is float32 already
    ai.name = "aridity_index"
    ai.attrs["units"] = "1"
    ref = p
    if ref.rio.crs is not None:  # in place on our new array (write_crs/write_transform would deep-copy it twice)
        ai = ai.rio.write_crs(ref.rio.crs, inplace=True).rio.write_transform(ref.rio.transform(recalc=False), inplace=True)
    return ai


def aridity_from_meteorology(precipitation, temperature, relative_humidity, shortwave, *, albedo=0.23,
                             seconds_per_step: float | list[float] = 86400.0, dim: str = "time",
                             check: bool = False) -> xr.DataArray:
    """AI from meteorology: PET by priestley_taylor_pet for every time step, then sum P / sum PET.

    Inputs are lists of 2-D DataArrays (one per step, same length) or DataArrays with dimension `dim`.
    `seconds_per_step` is the length of each step (86400 for daily means; 30 * 86400 for a 30-day month
    of mean daily radiation, so that PET is the step's total in mm like P).
    `check` (default off: the steps may cover any period, e.g. a few days): the steps make up one year, so the
    totals are annual totals in mm/year and are checked as aridity_index(check=True) checks them.
    """
    if isinstance(precipitation, (list, tuple)):
        pets = pet_steps(temperature, relative_humidity, shortwave, albedo=albedo, seconds_per_step=seconds_per_step,
                         n=len(precipitation))
        return aridity_index(list(precipitation), pets, check=check)
    pet = priestley_taylor_pet(temperature, relative_humidity, shortwave, albedo=albedo, seconds=seconds_per_step)
    return aridity_index(precipitation, pet, dim=dim, check=check)


def pet_steps(temperature, relative_humidity, shortwave, *, albedo=0.23, seconds_per_step: float | list[float] = 86400.0,
              n: int | None = None) -> list:
    """PET total of every step (priestley_taylor_pet) from lists of per-step rasters of the same length (`n`, the
    number of precipitation steps, when given); `albedo` and `seconds_per_step` are one value or one per step.
    What aridity_from_meteorology sums; callers that check the PET total before the index use it directly."""
    n = len(temperature) if n is None else n
    if not (len(temperature) == len(relative_humidity) == len(shortwave) == n):
        raise InputError("precipitation, temperature, humidity and radiation need the same number of steps", "aridity")
    secs = seconds_per_step if isinstance(seconds_per_step, (list, tuple)) else [seconds_per_step] * n
    if len(secs) != n:
        raise InputError(f"{len(secs)} step lengths for {n} steps", "seconds_per_step")
    alb = albedo if isinstance(albedo, (list, tuple)) else [albedo] * n
    return [priestley_taylor_pet(t, rh, rs, albedo=a, seconds=s) for t, rh, rs, a, s in zip(temperature, relative_humidity, shortwave, alb, secs)]
