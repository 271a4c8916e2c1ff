"""Landsat MTL metadata in all its forms, as one lookup of KEY -> value per group.

Forms read:
- text ODL (`GROUP = ...` / `KEY = value` / `END_GROUP = ...`), used by every generation: the pre-2012 form
  (`LMAX_BAND1`, `BAND1_FILE_NAME`, `ACQUISITION_DATE`, SPACECRAFT_ID "Landsat5"), the 2012-2016 pre-collection
  and Collection 1 form (`RADIANCE_MULT_BAND_1`, `FILE_NAME_BAND_1`, `DATE_ACQUIRED`), and Collection 2
  (`LANDSAT_METADATA_FILE` with LEVEL1_* / LEVEL2_* groups);
- Collection 2's `_MTL.json` and `_MTL.xml`, which hold the same groups and keys as its text form.
When a folder has several, the text form is read (then JSON, then XML).

Keys are looked up in the innermost group that holds them. Collection 2 Level-2 files hold
`REFLECTANCE_MULT_BAND_n` twice (Level-1 TOA in LEVEL1_RADIOMETRIC_RESCALING, surface reflectance in
LEVEL2_SURFACE_REFLECTANCE_PARAMETERS): such keys must be read with their group.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from irrmap.core.errors import InputError

_LINE = re.compile(r"^\s*([A-Za-z0-9_]+)\s*=\s*(.*?)\s*$")
PATTERNS = ("*_MTL.txt", "*_MTL.TXT", "*_MTL.json", "*_MTL.xml")


@dataclass(frozen=True)
class Mtl:
    """Parsed MTL: `groups` maps each innermost group name to its {KEY: value string} (quotes removed)."""

    path: Path
    groups: dict

    def get(self, key: str, group: str | None = None) -> str | None:
        """The value of `key` (in `group` when given, else in the first group holding it), or None."""
        for name, items in self.groups.items():
            if (group is None or name == group) and key in items:
                return items[key]
        return None

    def number(self, key: str, group: str | None = None) -> float | None:
        """`get` as a float (None when absent); InputError naming the key when the value is not a number."""
        value = self.get(key, group)
        if value is None:
            return None
        try:
            return float(value)
        except ValueError:
            raise InputError(f"{key} = {value!r} is not a number", str(self.path), "the MTL file is damaged; download it again") from None

    def first(self, *keys: str) -> str | None:
        """The value of the first of `keys` present (for keys renamed between MTL generations)."""
        return next((v for v in (self.get(k) for k in keys) if v is not None), None)


def find_mtl(folder: Path) -> Path | None:
    """The scene's MTL file in `folder` (text form first), or None. InputError when there are MTLs of several
    scenes."""
    for pattern in PATTERNS:
        found = sorted(folder.glob(pattern))
        if len(found) > 1:
            raise InputError(f"{len(found)} MTL files ({', '.join(p.name for p in found)})", str(folder),
                             "put one scene per folder")
        if found:
            return found[0]
    return None


def read_mtl(path) -> Mtl:
    """Parse an MTL file (text, .json or .xml by suffix). Raises InputError when it cannot be parsed."""
    path = Path(path)
    try:
        text = path.read_text(errors="replace")
        suffix = path.suffix.lower()
        groups = _json(text) if suffix == ".json" else _xml(text) if suffix == ".xml" else _odl(text)
    except (OSError, ValueError, ET.ParseError) as exc:
        raise InputError(f"cannot read the MTL metadata: {exc}", str(path), "the MTL file is damaged; download it again") from None
    if not groups:
        raise InputError("no metadata groups in the MTL file", str(path), "this is not a Landsat MTL file; give the scene's *_MTL.txt")
    return Mtl(path, groups)


def _odl(text: str) -> dict:
    groups: dict[str, dict] = {}
    stack: list[str] = []
    for line in text.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        key, value = m.group(1), m.group(2).strip().strip('"')
        if key == "GROUP":
            stack.append(value)
            groups.setdefault(value, {})
        elif key == "END_GROUP":
            if stack:
                stack.pop()
        elif stack:
            groups[stack[-1]][key] = value
    return {k: v for k, v in groups.items() if v}


def _json(text: str) -> dict:
    groups: dict[str, dict] = {}

    def walk(name, node):
        leaves = {k: str(v) for k, v in node.items() if not isinstance(v, dict)}
        if leaves:
            groups.setdefault(name, {}).update(leaves)
        for k, v in node.items():
            if isinstance(v, dict):
                walk(k, v)

    walk("", json.loads(text))
    return groups


def _xml(text: str) -> dict:
    groups: dict[str, dict] = {}

    def walk(el):
        leaves = {_local(c.tag): (c.text or "").strip() for c in el if len(c) == 0}
        if leaves:
            groups.setdefault(_local(el.tag), {}).update(leaves)
        for c in el:
            if len(c):
                walk(c)

    walk(ET.fromstring(text))
    return groups


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
