"""Evaluation reports people can read: Markdown (PNG files beside it) and one self-contained HTML page
(PNG figures embedded as base64), built from tables, figures and the commands that reproduce each number.

Figures: a map quicklook with a legend (fraction or binary maps, and class maps such as water / not water /
unknown), a confusion-matrix heat map, and the 1:1 scatters of `evaluation.agreement.scatter_png`. All use
matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

import base64
import html
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from irrmap.core.atomic import atomic_path, write_text_atomic


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    _plt().close(fig)
    return buf.getvalue()


# ---- figures ------------------------------------------------------------------------------------
def quicklook_array(da: xr.DataArray, max_pixels: int = 900) -> np.ndarray:
    """A small float array of the map for display: block means over factor x factor pixels (NaN-aware).

    `da` is a (y, x) map (dask or numpy backed); pixels equal to a value it declares missing (its
    ``nodata``, ``_FillValue`` or ``missing_value``: irrmap.core.array_input) are missing. Returns a
    float64 array of at most `max_pixels` per side: each cell the mean of the valid pixels of its f x f block
    (f = ceil(max(h, w) / max_pixels)); NaN where a block has no valid pixel. Edge blocks are partial."""
    h, w = da.sizes["y"], da.sizes["x"]
    f = max(1, math.ceil(max(h, w) / max_pixels))
    from irrmap.core.array_input import decode_declared

    arr = decode_declared(da).astype("float64")  # NaN at its declared nodata (nodata, _FillValue, ...)
    if f > 1:
        arr = arr.coarsen(y=f, x=f, boundary="pad").mean()  # float mean skips NaN (xarray >= 2026.9 rejects skipna= here)
    return np.asarray(arr.values, dtype=np.float64)


def map_quicklook_png(da: xr.DataArray, *, title: str, kind: str = "fraction", threshold: float = 0.0,
                      legend_label: str = "irrigated fraction of pixel", max_pixels: int = 900) -> bytes:
    """The map as a PNG with a legend: a colour bar (fraction maps) or class patches beside the map (binary maps;
    grey "no data" listed only when some display cell has no valid pixel)."""
    plt = _plt()
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    a = quicklook_array(da, max_pixels)
    fig, ax, extent = _map_axes(da, a.shape)
    if kind == "binary":
        cls = np.where(np.isnan(a), np.nan, (a > threshold).astype(float))
        ax.imshow(cls, cmap=ListedColormap(["#f3efe0", "#1565c0"]), vmin=0, vmax=1, interpolation="nearest", extent=extent)
        handles = [Patch(color="#1565c0", label="irrigated"), Patch(color="#f3efe0", label="not irrigated")]
        if np.isnan(cls).any():  # "no data" only on a map that has some
            handles.append(Patch(color="0.85", label="no data"))
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7, frameon=False)
    else:
        cmap = plt.get_cmap("YlGnBu").with_extremes(under="#f7f4ea")
        im = ax.imshow(np.where(a <= 0, -1, a), cmap=cmap, vmin=1e-6, vmax=max(1.0, float(np.nanmax(a, initial=0))),
                       interpolation="nearest", extent=extent)
        cb = fig.colorbar(im, ax=ax, shrink=0.8, extend="min")
        cb.set_label(legend_label, fontsize=8)
        cb.ax.tick_params(labelsize=7)
    return _map_png(fig, ax, title)


def _map_axes(da: xr.DataArray, shape: tuple[int, int]):
    """(figure, axes, imshow extent) for a map quicklook of `shape` (rows, columns); grey axes = no data."""
    h, w = shape
    fig, ax = _plt().subplots(figsize=(6.4, max(2.5, min(9.0, 5.4 * h / max(w, 1))) + 0.6), dpi=110)
    ax.set_facecolor("0.85")
    b = da.rio.bounds() if hasattr(da, "rio") else None
    return fig, ax, ((b[0], b[2], b[1], b[3]) if b else None)


def _map_png(fig, ax, title: str) -> bytes:
    ax.set_title(title, fontsize=10)
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    return _png(fig)


def class_shares(da: xr.DataArray, values, max_pixels: int = 900) -> np.ndarray:
    """Share of each class value in each display block: float64 array (len(values), h', w') of block means of
    the indicator `da == value` over the f x f blocks of `quicklook_array` (f = ceil(max(h, w) / max_pixels)),
    read in one pass. Pixels holding none of `values` (NaN, a nodata marker not listed) count in no share.

    Counted per block in strips of whole chunk rows (the values of quicklook_array's NaN-aware block mean of the
    one-hot indicators: count / pixels of the block, edge blocks partial), without the float one-hot stack."""
    h, w = da.sizes["y"], da.sizes["x"]
    f = max(1, math.ceil(max(h, w) / max_pixels))
    hb, wb = math.ceil(h / f), math.ceil(w / f)
    counts = np.zeros((len(values), hb, wb), dtype=np.int64)
    col_starts = np.arange(0, w, f)
    data = da.transpose("y", "x").data
    step = max(int(max(data.chunks[0])) if getattr(data, "chunks", None) else 2048, 1)
    carry, row0 = None, 0  # rows of an unfinished block row left from the previous strip, its first row
    for r0 in range(0, h, step):
        strip = np.asarray(data[r0:min(r0 + step, h)])
        if carry is not None:
            strip = np.concatenate([carry, strip])
        last = r0 + step >= h
        full = strip.shape[0] if last else strip.shape[0] - strip.shape[0] % f
        part, carry = strip[:full], (strip[full:] if full < strip.shape[0] else None)
        if full:
            rows = np.arange(0, full, f)
            b0 = row0 // f
            for k, v in enumerate(values):
                ind = part == v
                counts[k, b0:b0 + len(rows)] += np.add.reduceat(np.add.reduceat(ind, rows, axis=0, dtype=np.int64), col_starts, axis=1)
            row0 += full
    n_rows = np.minimum(f, h - np.arange(0, h, f))
    n_cols = np.minimum(f, w - col_starts)
    return counts / (n_rows[:, None] * n_cols[None, :]).astype(np.float64)


def class_quicklook_png(da: xr.DataArray, classes, *, title: str, max_pixels: int = 900) -> bytes:
    """A class map as a PNG with a legend. `da`: (y, x) map of class codes (dask or numpy backed);
    `classes`: (value, label, colour) triples, listed in legend order. Each display cell shows the class
    covering most pixels of its block (`class_shares`; ties go to the class listed first); cells whose pixels
    hold none of the values are grey (no data)."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    shares = np.nan_to_num(class_shares(da, [v for v, _, _ in classes], max_pixels), nan=0.0)
    cls = np.where(shares.max(axis=0) > 0, shares.argmax(axis=0), np.nan)
    fig, ax, extent = _map_axes(da, cls.shape)
    colours = [c for _, _, c in classes]
    ax.imshow(cls, cmap=ListedColormap(colours), vmin=-0.5, vmax=len(classes) - 0.5, interpolation="nearest", extent=extent)
    handles = [Patch(color=c, label=label) for _, label, c in classes]
    if np.isnan(cls).any():
        handles.append(Patch(color="0.85", label="no data"))
    ax.legend(handles=handles, loc="upper right", fontsize=7, framealpha=0.9)
    return _map_png(fig, ax, title)


def confusion_png(matrix: pd.DataFrame, *, title: str, row_label: str = "map", col_label: str = "reference") -> bytes:
    """Heat map of a confusion (or agreement) matrix with the value in each cell, rows = map."""
    plt = _plt()
    x = matrix.to_numpy(dtype=np.float64)
    q = x.shape[0]
    fig, ax = plt.subplots(figsize=(1.2 * q + 2.4, 1.1 * q + 1.8), dpi=110)
    share = x / x.sum() if x.sum() > 0 else x
    ax.imshow(share, cmap="Blues", vmin=0, vmax=max(float(share.max()), 1e-12))
    integer = np.allclose(x, np.round(x))
    for i in range(q):
        for j in range(q):
            v = x[i, j]
            txt = f"{int(round(v)):,}" if integer else (f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}")
            ax.text(j, i, txt, ha="center", va="center", fontsize=9, color="white" if share[i, j] > 0.5 * share.max() else "black")
    labels = [str(c) for c in matrix.columns]
    ax.set_xticks(range(q), labels, fontsize=8)
    ax.set_yticks(range(q), [str(c) for c in matrix.index], fontsize=8)
    ax.set_xlabel(col_label)
    ax.set_ylabel(row_label)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _png(fig)


# ---- report model -------------------------------------------------------------------------------
@dataclass
class _Block:
    kind: str  # text, table, figure, command, code
    content: object
    caption: str = ""
    name: str = ""


@dataclass
class Section:
    """A titled part of a report holding text, tables, figures and reproduction commands, in order."""

    title: str
    blocks: list = field(default_factory=list)

    def text(self, markdown: str) -> "Section":
        """A paragraph (plain text; `code` and **bold** are rendered in HTML)."""
        self.blocks.append(_Block("text", markdown))
        return self

    def table(self, df: pd.DataFrame, caption: str = "", digits: int = 4) -> "Section":
        self.blocks.append(_Block("table", (df.reset_index(drop=True), digits), caption))
        return self

    def figure(self, png: bytes, name: str, caption: str = "") -> "Section":
        self.blocks.append(_Block("figure", png, caption, name))
        return self

    def command(self, cmd: str) -> "Section":
        """The CLI command that reproduces this section's numbers."""
        self.blocks.append(_Block("command", cmd))
        return self

    def code(self, text: str, caption: str) -> "Section":
        """A verbatim block (e.g. the run's config), folded under `caption` in HTML."""
        self.blocks.append(_Block("code", text, caption))
        return self


class Report:
    """Sections rendered to Markdown (+ PNG files) and to one self-contained HTML page."""

    def __init__(self, title: str, intro: str = ""):
        self.title = title
        self.intro = intro
        self.sections: list[Section] = []

    def section(self, title: str) -> Section:
        s = Section(title)
        self.sections.append(s)
        return s

    # -- Markdown
    def to_markdown(self, figure_dir: str = "figures") -> tuple[str, dict[str, bytes]]:
        """(Markdown text, {relative figure path: PNG bytes})."""
        out, figs = [f"# {self.title}", ""], {}
        if self.intro:
            out += [self.intro, ""]
        for s in self.sections:
            out += [f"## {s.title}", ""]
            for b in s.blocks:
                if b.kind == "text":
                    out += [b.content, ""]
                elif b.kind == "table":
                    df, digits = b.content
                    if b.caption:
                        out += [f"*{b.caption}*", ""]
                    out += [markdown_table(df, digits), ""]
                elif b.kind == "figure":
                    rel = f"{figure_dir}/{b.name}.png"
                    figs[rel] = b.content
                    out += [f"![{b.caption or b.name}]({rel})", ""]
                    if b.caption:
                        out += [f"*{b.caption}*", ""]
                elif b.kind == "command":
                    out += ["Reproduce with:", "", "```sh", b.content, "```", ""]
                elif b.kind == "code":
                    out += [f"{b.caption}:", "", "```", b.content.rstrip(), "```", ""]
        return "\n".join(out).rstrip() + "\n", figs

    # -- HTML
    def to_html(self) -> str:
        """One HTML page with inline CSS and base64-embedded PNGs (no external files)."""
        e = html.escape
        parts = [
            "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{e(self.title)}</title>",
            "<style>body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}"
            "table{border-collapse:collapse;margin:.5em 0 1.2em;font-size:.9em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}"
            "th{background:#f0f0f0}td:first-child,th:first-child,td.t{text-align:left}figure{margin:1em 0}figcaption,.cap{color:#555;font-size:.9em}"
            "pre{background:#f6f8fa;padding:.6em;white-space:pre-wrap;overflow-wrap:anywhere;font-size:.85em}img{max-width:100%}"
            "@media print{body{max-width:none;margin:0;font-size:10pt}h2{break-before:auto;break-after:avoid}"
            "figure,table,pre{break-inside:avoid}a{color:inherit}}</style>",
            "</head><body>", f"<h1>{e(self.title)}</h1>",
        ]
        if self.intro:
            parts.append(f"<p>{_inline(self.intro)}</p>")
        for s in self.sections:
            parts.append(f"<h2>{e(s.title)}</h2>")
            for b in s.blocks:
                if b.kind == "text":
                    parts.append(f"<p>{_inline(b.content)}</p>")
                elif b.kind == "table":
                    df, digits = b.content
                    if b.caption:
                        parts.append(f'<p class="cap"><em>{e(b.caption)}</em></p>')
                    parts.append(html_table(df, digits))
                elif b.kind == "figure":
                    data = base64.b64encode(b.content).decode("ascii")
                    parts.append(f'<figure><img alt="{e(b.caption or b.name)}" src="data:image/png;base64,{data}">'
                                 + (f"<figcaption>{e(b.caption)}</figcaption>" if b.caption else "") + "</figure>")
                elif b.kind == "command":
                    parts.append(f"<p class=\"cap\">Reproduce with:</p><pre>{e(b.content)}</pre>")
                elif b.kind == "code":
                    parts.append(f"<details><summary>{e(b.caption)}</summary><pre>{e(b.content)}</pre></details>")
        # printing opens the folded blocks (config, checksums), so the printed page holds everything
        parts.append("<script>addEventListener('beforeprint',()=>document.querySelectorAll('details').forEach(d=>d.open=true))</script>")
        parts.append("</body></html>")
        return "\n".join(parts) + "\n"

    def write(self, outdir, name: str = "report") -> tuple[Path, Path]:
        """Write OUTDIR/NAME.md (+ OUTDIR/figures/*.png) and OUTDIR/NAME.html, each atomically. The figure files
        written are kept in `self.figure_paths` (list of Path)."""
        outdir = Path(outdir)
        md, figs = self.to_markdown()
        self.figure_paths = []
        for rel, png in figs.items():
            with atomic_path(outdir / rel) as tmp:
                Path(tmp).write_bytes(png)
            self.figure_paths.append(outdir / rel)
        md_path = write_text_atomic(outdir / f"{name}.md", md)
        html_path = write_text_atomic(outdir / f"{name}.html", self.to_html())
        return md_path, html_path


def _fmt_cell(v, digits: int) -> str:
    if v is None:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}" if abs(int(v)) >= 10000 else str(int(v))
    if isinstance(v, (float, np.floating)):
        if v != v:
            return "n/a"
        if float(v).is_integer() and abs(v) >= 1:
            return f"{v:,.0f}"
        return _fmt_float(float(v), digits)
    return str(v)


def _fmt_float(v: float, digits: int) -> str:
    """`v` to `digits` significant digits, never in exponent form from 1 up: fixed point with thousands separators,
    the decimals left after the integer digits of the rounded value, trailing zeros dropped (9999.5 -> '10,000',
    1234.56 -> '1,235', 12.3456 -> '12.35', 123456.7 -> '123,457': whole units kept past `digits`). Below 1 in magnitude the general format ('0.1235', '1.2e-05')."""
    r = float(f"{v:.{digits}g}")
    if abs(r) < 1:
        return f"{v:,.{digits}g}"
    decimals = max(digits - len(str(int(abs(r)))), 0)
    text = f"{v:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def markdown_table(df: pd.DataFrame, digits: int = 4) -> str:
    """A GitHub-flavoured Markdown table of a DataFrame (numbers with `digits` significant digits)."""
    head = "| " + " | ".join(str(c) for c in df.columns) + " |"
    sep = "|" + "|".join("---" if i == 0 or df.dtypes.iloc[i] == object else "---:" for i in range(len(df.columns))) + "|"
    rows = ["| " + " | ".join(_fmt_cell(v, digits).replace("|", "\\|") for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *rows])


def html_table(df: pd.DataFrame, digits: int = 4) -> str:
    e = html.escape
    head = "<tr>" + "".join(f"<th>{e(str(c))}</th>" for c in df.columns) + "</tr>"
    body = "".join("<tr>" + "".join(f'<td class="t">{e(v)}</td>' if isinstance(v, str) else f"<td>{e(_fmt_cell(v, digits))}</td>" for v in row)
                   + "</tr>" for row in df.itertuples(index=False))
    return f"<table>{head}{body}</table>"


def _inline(text: str) -> str:
    """Escape, then render [links](href), `code` and **bold** spans."""
    import re

    t = html.escape(text)
    t = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r'<a href="\2">\1</a>', t)
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", t)


__all__ = ["Report", "Section", "class_quicklook_png", "class_shares", "confusion_png", "html_table", "map_quicklook_png",
           "markdown_table", "quicklook_array"]
