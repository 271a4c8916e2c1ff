"""Per-block counts of valid and member source pixels, for fraction reads onto a grid whose pixels are whole
ky x kx blocks of the source's (irrmap.core.raster_read._fraction_by_blocks).

One pass over the decoded window: each code is looked up in a table of every 8- or 16-bit code (bit 0: valid,
bit 1: one of the counted classes) and added to its block's two counters. numpy needed five passes and two
full-size temporaries for the same counts (the membership gather, the missing test, two block sums).
"""

from __future__ import annotations

import numpy as np
from numba import njit

VALID, MEMBER = 1, 2


@njit(cache=True, nogil=True)
def _count(codes, table, mask, use_mask, ky, kx, r_off, c_off, valid, member):
    height, width = codes.shape
    for i in range(height):
        bi = (i + r_off) // ky
        bj = c_off // kx
        left = kx - c_off % kx  # pixels of this row still in block column bj
        for j in range(width):
            t = table[codes[i, j]]
            if use_mask and mask[i, j] == 0:
                t = 0
            valid[bi, bj] += t & 1
            member[bi, bj] += t >> 1
            left -= 1
            if left == 0:
                bj += 1
                left = kx


def code_bits(missing: np.ndarray, member: np.ndarray) -> np.ndarray:
    """uint8 of the inputs' shape: VALID where `missing` is False, plus MEMBER where `member` is True too. Applied to
    every code of an 8- or 16-bit type (np.arange(2**bits, dtype=unsigned).view(dtype)) it is count_blocks' table;
    applied to the pixels of a window of wider codes it is their bits, counted through IDENTITY."""
    return np.where(missing, 0, VALID + MEMBER * member.astype(np.uint8)).astype(np.uint8)


IDENTITY = np.arange(256, dtype=np.uint8)  # the table for windows already turned into code_bits


def count_blocks(codes: np.ndarray, table: np.ndarray, mask: np.ndarray | None, shape: tuple[int, int], ky: int, kx: int,
                 r_off: int, c_off: int) -> tuple[np.ndarray, np.ndarray]:
    """(valid, member) int32 counts of shape `shape` (blocks). codes: (H, W) 8- or 16-bit integer codes of the source
    window; source pixel (i, j) lies in block ((i + r_off) // ky, (j + c_off) // kx), which must be inside `shape`.
    table: code_bits of every code (or IDENTITY); mask: GDAL's mask of the window (0 = missing) or None.
    Raises ValueError when an index of the kernel would leave its array (numba checks no bounds): codes not 2-D
    8- or 16-bit, a table shorter than the code range, a mask of another shape, blocks outside `shape`."""
    _check(codes, table, mask, shape, ky, kx, r_off, c_off)
    valid = np.zeros(shape, np.int32)
    member = np.zeros(shape, np.int32)
    unsigned = codes.view(np.dtype(f"u{codes.dtype.itemsize}"))
    m = np.ascontiguousarray(mask, np.uint8) if mask is not None else np.zeros((1, 1), np.uint8)
    _count(np.ascontiguousarray(unsigned), table, m, mask is not None, ky, kx, r_off, c_off, valid, member)
    return valid, member


def _check(codes, table, mask, shape, ky, kx, r_off, c_off) -> None:
    if codes.ndim != 2 or codes.dtype.kind not in "iu" or codes.dtype.itemsize > 2:
        raise ValueError(f"codes must be 2-D 8- or 16-bit integers, got {codes.ndim}-D {codes.dtype}")
    if table.ndim != 1 or table.size < 2 ** (8 * codes.dtype.itemsize):
        raise ValueError(f"a table of {table.size} entries for {codes.dtype} codes (needs {2 ** (8 * codes.dtype.itemsize)})")
    if mask is not None and np.shape(mask) != codes.shape:
        raise ValueError(f"a mask of shape {np.shape(mask)} for codes of shape {codes.shape}")
    h, w = codes.shape
    if min(ky, kx) < 1 or min(r_off, c_off) < 0 or (h and w and ((h - 1 + r_off) // ky >= shape[0] or (w - 1 + c_off) // kx >= shape[1])):
        raise ValueError(f"a {h} x {w} window at offset ({r_off}, {c_off}) in {ky} x {kx} blocks leaves the {shape} block array")
