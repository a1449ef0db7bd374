"""The terminal's layer-by-layer drift table (verify --layers): every layer in dataflow order against its noise floor."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table

from inspector.cli.render import message
from inspector.cli.safe import REMOVED_STYLE, lines, plain

# Rows shown around the first layer out of the noise, and the layers out of it after that, without --all.
ROWS_SHOWN = 25


def layers_report(report, *, all_rows: bool = False) -> RenderableType:
    """The drift table: the layers up to where the outputs part and those that leave the noise, then the verdict lines."""
    table = Table(title=lines(f"a = {report.a}", f"b = {report.b}", f"{len(report.inputs)} inputs: {', '.join(report.inputs[:4])}"
                              + (" ..." if len(report.inputs) > 4 else "")), title_style="")
    for name, justify in (("#", "right"), ("Layer (a)", "left"), ("Op", "left"), ("Max |a-b|", "right"),
                          ("Max rel.", "right"), ("Noise floor", "right"), ("x floor", "right"), ("", "center")):
        # A layer's name is what the row is for: it wraps rather than losing its end.
        table.add_column(name, justify=justify, overflow="fold" if name == "Layer (a)" else "ellipsis")
    first = report.first_out
    start = report.layers.index(first) if first is not None else len(report.layers)
    shown = [(i, layer) for i, layer in enumerate(report.layers)
             if all_rows or i >= start - 3 and (i <= start + 2 or not layer.within)]
    skipped = 0
    for i, layer in shown[: None if all_rows else ROWS_SHOWN]:
        mark = plain("ok", REMOVED_STYLE) if layer.within else plain("DRIFT", "bold red")
        table.add_row(str(i + 1), plain(layer.a), plain(layer.op), f"{layer.max_abs:.2g}", f"{layer.max_rel:.2g}",
                      f"{layer.floor:.2g}", f"{layer.ratio:.3g}", mark)
    if not all_rows:
        skipped = len(report.layers) - min(len(shown), ROWS_SHOWN)
    parts: list[RenderableType] = [table]
    if skipped:
        parts.append(plain(f"{skipped} more layers (--all lists every one; --json has them all)", "dim"))
    if report.unmatched:
        parts.append(plain(f"{report.unmatched} layers of a have no counterpart in b (folded into another, or fused): "
                           "not compared", "dim"))
    if first is not None:
        parts.append(message("drift", f"starts at layer {report.layers.index(first) + 1}, {first.a} ({first.op}): "
                                      f"{first.ratio:.3g}x its noise floor"))
        for layer in report.grows_most:
            parts.append(message("grows", f"{layer.a} ({layer.op}): {layer.ratio:.3g}x the floor, "
                                          f"{layer.growth:.3g} more than the layers it reads"))
    for note in report.notes:
        parts.append(message("note", note))
    if report.ok:
        parts.append(plain(f"ok: {report.message}", REMOVED_STYLE))
    return Group(*parts)
