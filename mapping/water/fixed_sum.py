"""Moved to irrmap.core.fixed_sum (one implementation for the water and tree-cover sums); re-exported here."""

from irrmap.core.fixed_sum import (
    FRACTION_BITS,
    SCALE,
    add,
    bincount_parts,
    group_parts,
    group_total,
    join,
    split,
)

__all__ = ["FRACTION_BITS", "SCALE", "add", "bincount_parts", "group_parts", "group_total", "join", "split"]
