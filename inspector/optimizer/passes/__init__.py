"""The inference optimizer's passes: one module per concern, and PASSES, the one ordered registry the pipeline runs.

Each entry adapts a pass module's function to the shared PassContext. The
module functions are looked up when a pass runs (``prune.strip_unused``, not a
reference taken at import), so a test can stand one in with monkeypatch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from inspector.errors import InspectorError
from inspector.optimizer.passes import batchnorm, constfold, dropout, fuse, inference, linear, prune, simplify
from inspector.optimizer.passes.context import Options, PassContext


def _applies(options: Options) -> str | None:
    return None


@dataclass(frozen=True)
class Pass:
    """One optimizer pass: its name (for --skip-pass), a one-line summary (for --help) and what it does."""

    name: str
    summary: str
    run: Callable[[PassContext], list[str]]  # edits ctx.graph, returns notes for people
    # A reason the pass does not run under these options (reported as its ``skipped``), or None.
    skip_reason: Callable[[Options], str | None] = _applies


def _strip_unused(ctx: PassContext) -> list[str]:
    types = [ctx.options.placeholder_type_enum] * len(ctx.inputs)
    return prune.strip_unused(ctx.graph, inputs=ctx.inputs, outputs=ctx.outputs, placeholder_types=types, because=ctx.because)


def _remove_identity(ctx: PassContext) -> list[str]:
    return prune.remove_identities(ctx.graph, inputs=ctx.inputs, outputs=ctx.outputs, frozen=ctx.options.frozen, because=ctx.because)


def _batch_norms(ctx: PassContext) -> tuple[str, ...]:
    return batchnorm.find_batch_norms(ctx.graph, constfold.constant_names(ctx.graph))


def _fold_constants(ctx: PassContext) -> list[str]:
    constfold.ask_ahead(ctx.graph)  # TensorFlow (a helper process) reads the constants' dtypes while batch norms are found
    # Found now, while a decomposed batch norm still shows its Rsqrt; folding turns the scale into a Const.
    ctx.batch_norm_candidates = _batch_norms(ctx)
    return constfold.fold_constants(ctx.graph, keep=ctx.keep, because=ctx.because)


def _inference_values(ctx: PassContext) -> list[str]:
    auxiliary = ctx.signature.auxiliary if ctx.signature is not None else ()
    return inference.feed_inference_values(ctx.graph, auxiliary, keep=ctx.keep, because=ctx.because)


def _fold_cond(ctx: PassContext) -> list[str]:
    return inference.fold_cond(ctx.graph, keep=ctx.keep, because=ctx.because)


def _dropout(ctx: PassContext) -> list[str]:
    values = ctx.signature.inference_values if ctx.signature is not None else {}
    found, notes = dropout.find_dropout(ctx.graph, inputs=ctx.inputs, values=values)
    keep = set(ctx.keep)
    notes += [f"{d.output}: an output of the graph, so left in" for d in found if d.output in keep]
    found = [d for d in found if d.output not in keep]
    on = [d for d in found if d.state == dropout.ON]
    fed = [d for d in found if d.state == dropout.FED]
    # Off as the graph stands (a keep probability of 1): the mask keeps every value, so cutting it changes nothing.
    strip = [d for d in found if d.state == dropout.OFF]
    notes += [f"{d.output}: dropout that keeps every value as the graph stands (keep probability 1 or rate 0), cut out"
              for d in strip]
    ctx.dropouts.extend(on)
    if ctx.options.strip_dropout:
        strip += fed + on
        ctx.stripped.extend(on)
        notes += [f"{d.output}: dropout off at the inference value of {', '.join(d.settings)}, cut out" for d in fed]
    else:
        notes += [f"{d.output}: dropout off at the inference value of {', '.join(d.settings)} (which runners feed), "
                  "left in (strip_dropout removes it)" for d in fed]
        notes += [f"{d.output}: training-mode dropout, left in (strip_dropout removes it)" for d in on]
    ctx.dropouts_off.extend(d for d in strip if d.state != dropout.ON)
    if not strip:
        return notes
    return notes + dropout.strip_dropout(ctx.graph, strip, keep=ctx.keep, because=ctx.because)


def _fold_batch_norm(ctx: PassContext) -> list[str]:
    # Without a fold_constants pass before this one, the candidates are found here.
    candidates = ctx.batch_norm_candidates if ctx.batch_norm_candidates is not None else _batch_norms(ctx)
    notes, left = batchnorm.fold_batch_norms(ctx.graph, keep=ctx.keep, candidates=candidates, because=ctx.because)
    ctx.unfolded.extend(left)
    return notes


def _merge_linear(ctx: PassContext) -> list[str]:
    return linear.merge_linear(ctx.graph, keep=ctx.keep, because=ctx.because)


def _simplify(ctx: PassContext) -> list[str]:
    return simplify.simplify(ctx.graph, keep=ctx.keep, hoist_activations=not ctx.options.toco_compatible, because=ctx.because)


def _fuse_resize_conv(ctx: PassContext) -> list[str]:
    return fuse.fuse_resize_and_conv(ctx.graph, keep=ctx.keep, because=ctx.because)


def _not_for_tflite(options: Options) -> str | None:
    return "toco_compatible (its fused ops are not TFLite ops)" if options.toco_compatible else None


# The passes, in the order they run.
PASSES: tuple[Pass, ...] = (
    Pass("strip_unused", "make each input a Placeholder and drop what the outputs do not need", _strip_unused),
    Pass("inference_values", "auxiliary inputs become constants of their inference value (keep prob 1, training flag false)",
         _inference_values),
    Pass("fold_cond", "resolve tf.cond (Switch/Merge) on a constant predicate: keep the branch taken, drop the other",
         _fold_cond),
    Pass("remove_identity", "splice out Identity-like nodes, Asserts and unfed PlaceholderWithDefault", _remove_identity),
    Pass("fold_constants", "evaluate subgraphs fed only by constants (and static shapes) into Const nodes", _fold_constants),
    Pass("dropout", "find dropout; cut out what keeps every value, and training-mode dropout when asked to strip it",
         _dropout),
    Pass("fold_batch_norm", "fold batch norm scales into conv/MatMul weights and shifts into one BiasAdd", _fold_batch_norm),
    Pass("merge_linear", "merge a 1x1 conv on a 1x1 map and the MatMul after it into one MatMul", _merge_linear),
    Pass("simplify", "drop no-op ops, merge reshapes, flatten concats, hoist activations, share equal constants", _simplify),
    Pass("fuse_resize_conv", "fuse ResizeBilinear/MirrorPad into the Conv2D they feed (not with toco_compatible)",
         _fuse_resize_conv, _not_for_tflite),
)


def pass_names() -> tuple[str, ...]:
    return tuple(p.name for p in PASSES)


def checked_skip(names: str | Iterable[str]) -> frozenset[str]:
    """``names`` as a set of pass names, or an InspectorError naming the unknown one and listing the passes."""
    wanted = [names] if isinstance(names, str) else list(names)
    known = pass_names()
    for name in wanted:
        if name not in known:
            raise InspectorError(f"--skip-pass {name!r}: no such optimizer pass; pass one of {', '.join(known)}")
    return frozenset(wanted)
