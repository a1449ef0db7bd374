"""What the passes ask TensorFlow: can it import a graph, static shapes and dtypes, values of constant subgraphs."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
from tensorboard.compat.proto.attr_value_pb2 import AttrValue
from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.node_def_pb2 import NodeDef
from tensorboard.compat.proto.tensor_pb2 import TensorProto

from inspector.errors import InspectorError
from inspector.graph import tfcompat
from inspector.optimizer.passes import tfprocess
from inspector.optimizer.passes.tfprocess import Helper, active
from inspector.graph.trust import without_unsafe
from inspector.graph.ops import DTYPE_BYTES
from inspector.graph.workgraph import CONST_VALUE_LIMIT, WorkGraph, content_tensor, drop_dangling_colocation

# Shape inference never reads the values of big constants (weights), only of
# small ones (Reshape shapes, paddings), so the import for shapes leaves them out.
_LIGHT_LIMIT = 1024
# A graph up to this size goes to the helper process whole (it lightens what it gets): a copy of this many bytes
# through a pipe costs less than a walk over every node to drop the big values first.
_PIPE_BYTES = 64 * 2**20

Shape = tuple[int | None, ...] | None  # None: unknown rank; None in a dim: unknown size


# Both are internal: the optimizer's pipeline catches each one around every call
# into this module and raises an InspectorError that names the graph and the fix.
class ImportFailed(Exception):
    """TensorFlow refused to import a graph; the message is TensorFlow's first line."""


class EvaluateFailed(Exception):
    """TensorFlow imported a graph but could not compute a constant in it (a corrupt Const, typically)."""


def import_graph(graph: GraphDef) -> Imported:
    """``graph`` imported into a fresh ``tf.Graph``, without its unsafe nodes (graph/trust.py), or ImportFailed.

    The optimizer never lets TensorFlow see an unsafe node: shape inference at
    import would evaluate a ReadFile, and a folded Shape would carry what it read.
    The graph goes through TensorFlow's C importer, which checks ops, attributes
    and shapes as ``tf.graph_util.import_graph_def`` does; Python wrappers are
    made only for the operations asked about (:class:`Imported`).
    """
    tf = tfcompat.tf()
    from tensorflow.python.client import pywrap_tf_session as c_api
    from tensorflow.python.framework import c_api_util

    tf_graph = tf.Graph()
    options = c_api.TF_NewImportGraphDefOptions()
    try:
        data = tfcompat.checked_bytes(without_unsafe(graph))
        c_api.TF_ImportGraphDefOptionsSetPrefix(options, "")
        with c_api_util.tf_buffer(data) as buffer, tf_graph._c_graph.get() as c_graph:  # noqa: SLF001
            c_api.TF_DeleteImportGraphDefResults(c_api.TF_GraphImportGraphDefWithResults(c_graph, buffer, options))
    except (tfcompat.BadTensorDtype, ValueError, TypeError, KeyError, tf.errors.OpError) as exc:
        raise ImportFailed(tfcompat.error_line(exc)) from None
    finally:
        c_api.TF_DeleteImportGraphDefOptions(options)
    return Imported(tf_graph)


def helping() -> AbstractContextManager:
    """TensorFlow in a helper process for the work inside (:mod:`tfprocess`): what this module asks goes to it."""
    return tfprocess.helping(f"{__name__}:serve")


def _ask(helper: Helper, kind: str, *args: Any) -> Any:
    return _answered(helper.submit(kind, *args))


def _answered(answer: Callable[[], Any]) -> Any:
    try:
        return answer()
    except tfprocess.Refused as exc:
        raise {"ImportFailed": ImportFailed, "EvaluateFailed": EvaluateFailed}[exc.kind](str(exc)) from None


def serve() -> None:
    """The helper process: this module's answers, asked in this process (none is active here)."""
    tfprocess.serve(_answers, (ImportFailed, EvaluateFailed))


def _answers() -> dict[str, Callable[..., Any]]:
    tfcompat.tf()  # the import the parent goes on without
    imports: dict[int, StaticOutputs] = {}
    keys = itertools.count()

    def outputs_of(data: bytes) -> tuple[int, list[str], dict[str, list[int]]]:
        graph = GraphDef.FromString(data)
        computed = [node.name for node in graph.node if node.op != "Const"]
        found = static_outputs(light(graph, in_place=True), lightened=True)
        key = next(keys)
        imports[key] = found
        return key, list(found), {name: found.dtypes(name) or [] for name in computed if name in found}

    def read(key: int, names: list[str]) -> dict:
        return {name: imports[key][name] for name in names if name in imports[key]}

    return {
        "op_info": op_info,
        "static_outputs": outputs_of,
        "outputs": read,
        "forget": lambda key: imports.pop(key, None) and None,
        "evaluate": lambda data, fetches: evaluate(GraphDef.FromString(data), fetches),
        "evaluate_each": lambda nodes, args: evaluate_each([NodeDef.FromString(n) for n in nodes], args),
        "check_import": lambda data: check_import(GraphDef.FromString(data)),
    }


def check_import(graph: GraphDef) -> None:
    """Nothing when ``graph`` imports (:func:`import_graph`), else ImportFailed; asked of the helper process when one runs."""
    check_import_later(graph)()


def check_import_later(graph: GraphDef) -> Callable[[], None]:
    """:func:`check_import` begun: a helper process checks while the caller goes on, until it calls the result.

    Without a helper the check runs now; its ImportFailed comes from the call, all the same.
    """
    helper = active()
    if helper is not None:
        answer = helper.submit("check_import", graph.SerializeToString())
        return lambda: _answered(answer)
    try:
        import_graph(graph)
    except ImportFailed as exc:
        failed = exc

        def fail() -> None:
            raise failed

        return fail
    return lambda: None


class Imported:
    """A ``tf.Graph`` TensorFlow's C importer filled, whose operations get Python wrappers one by one, when asked for.

    TensorFlow's Python importer wraps every operation with device functions,
    colocation and control-flow bookkeeping, ~50 µs a node (5 s on 100k nodes);
    the passes ask about a few nodes (the shapes a rewrite depends on, the
    values to fold), so only those are wrapped.
    """

    def __init__(self, tf_graph: Any) -> None:
        from tensorflow.python.client import pywrap_tf_session as c_api

        self.graph = tf_graph
        self._unwrapped = {c_api.TF_OperationName(c_op): c_op for c_op in tf_graph.new_operations()}

    def names(self) -> list[str]:
        return [*self.graph._nodes_by_name, *self._unwrapped]  # noqa: SLF001

    def __contains__(self, name: object) -> bool:
        return name in self._unwrapped or name in self.graph._nodes_by_name  # noqa: SLF001

    def output_dtypes(self, name: str) -> list[int]:
        """The dtype enums of ``name``'s outputs, read through the C API: no wrapper made (KeyError when absent)."""
        from tensorflow.python.client import pywrap_tf_session as c_api

        c_op = self._unwrapped.get(name)
        if c_op is None:
            return [tensor.dtype.as_datatype_enum for tensor in self.graph._nodes_by_name[name].outputs]  # noqa: SLF001
        dtypes = []
        for index in range(c_api.TF_OperationNumOutputs(c_op)):
            output = c_api.TF_Output()
            output.oper, output.index = c_op, index
            dtypes.append(int(c_api.TF_OperationOutputType(output)))
        return dtypes

    def op(self, name: str) -> Any:
        """The operation ``name`` (KeyError when the graph has none)."""
        c_op = self._unwrapped.pop(name, None)
        if c_op is None:
            return self.graph._nodes_by_name[name]  # noqa: SLF001
        from tensorflow.python.framework import ops

        return ops.Operation._from_c_op(c_op, self.graph)  # noqa: SLF001

    def outputs(self, name: str) -> list[tuple[int, Shape]]:
        """(dtype enum, static shape) of each of ``name``'s outputs (KeyError when absent)."""
        return [_output(tensor) for tensor in self.op(name).outputs]

    def read_ahead(self, names: Iterable[str]) -> None:
        """Nothing: in this process each node's outputs are read as cheaply one by one."""


class Known:
    """Outputs worked out without TensorFlow (:mod:`inferred`), looked at as :class:`Imported` is."""

    def __init__(self, outputs: dict[str, list[tuple[int, Shape]]]) -> None:
        self._outputs = outputs

    def names(self) -> list[str]:
        return list(self._outputs)

    def __contains__(self, name: object) -> bool:
        return name in self._outputs

    def output_dtypes(self, name: str) -> list[int]:
        return [dtype for dtype, _ in self._outputs[name]]

    def outputs(self, name: str) -> list[tuple[int, Shape]]:
        return self._outputs[name]

    def read_ahead(self, names: Iterable[str]) -> None:
        """Nothing: every answer is here."""


class _HelperImport:
    """An import the helper process holds, looked at as :class:`Imported` is: dtypes given at once, shapes asked for."""

    def __init__(self, helper: Helper, answer: Callable[[], Any]) -> None:
        """``answer``: the helper's reply to ``static_outputs`` (:meth:`Helper.submit`), waited for here."""
        self._helper, self._key = helper, None  # no key: the import failed, nothing to forget
        # The dtypes of what a pass computes come at once; a Const's, asked for less, with its shape.
        self._key, names, self._dtypes = _answered(answer)
        self._names = frozenset(names)
        self._outputs: dict[str, list[tuple[int, Shape]]] = {}

    def names(self) -> list[str]:
        return list(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def output_dtypes(self, name: str) -> list[int]:
        found = self._dtypes.get(name)
        return found if found is not None else [dtype for dtype, _ in self.outputs(name)]

    def outputs(self, name: str) -> list[tuple[int, Shape]]:
        if name not in self._outputs:
            self.read_ahead([name])
        return self._outputs[name]

    def __del__(self) -> None:
        # Its tf.Graph in the helper goes too: the helper then holds one import at a time, not every one asked for.
        if self._key is not None:
            self._helper.tell("forget", self._key)

    def read_ahead(self, names: Iterable[str]) -> None:
        """The outputs of ``names`` in one question to the helper, not one each."""
        wanted = [name for name in dict.fromkeys(names) if name in self._names and name not in self._outputs]
        if wanted:
            self._outputs.update(_ask(self._helper, "outputs", self._key, wanted))


class StaticOutputs(Mapping):
    """Node name -> [(dtype enum, static shape)] per output, read off an import as each node is looked up."""

    def __init__(self, imported: Imported | _HelperImport | Known) -> None:
        self._imported = imported
        self._read: dict[str, list[tuple[int, Shape]]] = {}

    def __getitem__(self, name: str) -> list[tuple[int, Shape]]:
        found = self._read.get(name)
        if found is None:
            if name not in self._imported:
                raise KeyError(name)
            found = self._read[name] = self._imported.outputs(name)
        return found

    def read_ahead(self, names: Iterable[str]) -> None:
        """Get ready to be asked for the outputs of ``names`` (one question for all, to a helper process)."""
        self._imported.read_ahead(name for name in names if name not in self._read)

    def __contains__(self, name: object) -> bool:
        return name in self._read or name in self._imported

    def dtypes(self, name: str) -> list[int] | None:
        """The dtype enums of ``name``'s outputs (None when the import has no such node), without reading shapes."""
        found = self._read.get(name)
        if found is not None:
            return [dtype for dtype, _ in found]
        return self._imported.output_dtypes(name) if name in self._imported else None

    def __iter__(self) -> Iterator[str]:
        return iter(self._imported.names())

    def __len__(self) -> int:
        return len(self._imported.names())


def _output(tensor: Any) -> tuple[int, Shape]:
    shape = tensor.shape
    return tensor.dtype.as_datatype_enum, None if shape.rank is None else tuple(shape.as_list())


def light(graph: GraphDef, *, limit: int = _LIGHT_LIMIT, in_place: bool = False) -> GraphDef:
    """``graph`` with the values of big constants dropped (dtype and shape kept), for shape inference.

    ``graph`` itself when it has none to drop (so the result is for reading, not editing).

    A Const too big to hold in memory (over CONST_VALUE_LIMIT as an array,
    however few bytes its proto has) becomes a Placeholder of its dtype and
    shape: a shape function that asks for an input's value makes TensorFlow
    build a Const's whole tensor (zeros when its values are dropped), and a
    Placeholder has no value to build.
    """
    heavy: list[tuple[int, bool]] = []  # (index, too big to hold: a stand-in) of each Const to lighten
    for index, node in enumerate(graph.node):
        if node.op != "Const" or "value" not in node.attr:
            continue
        tensor = node.attr["value"].tensor
        elements = 1
        for dim in tensor.tensor_shape.dim:
            elements *= max(dim.size, 0)
        if elements * DTYPE_BYTES.get(tensor.dtype, 8) > CONST_VALUE_LIMIT:
            heavy.append((index, True))
        elif elements > limit:
            heavy.append((index, False))
    if not heavy:
        return graph  # nothing to drop: no copy of every node
    out = graph if in_place else GraphDef()
    if not in_place:
        out.CopyFrom(graph)
    for index, huge in heavy:
        node = out.node[index]
        if huge:
            node.CopyFrom(_stand_in(node))
        else:
            tensor = node.attr["value"].tensor
            tensor.CopyFrom(TensorProto(dtype=tensor.dtype, tensor_shape=tensor.tensor_shape))
    return out


def _stand_in(const: NodeDef) -> NodeDef:
    tensor = const.attr["value"].tensor
    dtype = const.attr["dtype"].type if "dtype" in const.attr else tensor.dtype  # the type its readers see
    return NodeDef(
        name=const.name, op="Placeholder", input=const.input, device=const.device,
        attr={"dtype": AttrValue(type=dtype), "shape": AttrValue(shape=tensor.tensor_shape)},
    )


def closed_subgraph(graph: GraphDef, names: set[str] | frozenset[str]) -> GraphDef:
    """The nodes of ``graph`` named in ``names``, which read only each other, with its versions and functions.

    A node's inferred dtypes and shapes depend on what it reads alone, so such a
    part of a graph imports by itself with the answers the whole graph gives it
    (less its colocation with nodes left out, which TensorFlow would refuse).
    """
    sub = GraphDef()
    sub.versions.CopyFrom(graph.versions)
    sub.library.CopyFrom(graph.library)
    sub.node.extend(node for node in graph.node if node.name in names)
    for node in sub.node:
        if "_class" in node.attr:
            drop_dangling_colocation(node, names)
    return sub


def static_outputs(graph: GraphDef, *, lightened: bool = False) -> StaticOutputs:
    """For each node, (dtype enum, static shape) of each output, from TensorFlow's shape inference.

    ``lightened``: ``graph`` is :func:`light` already (the helper process gets it so).
    """
    return static_outputs_later(graph, lightened=lightened)()


def static_outputs_later(graph: GraphDef, *, lightened: bool = False) -> Callable[[], StaticOutputs]:
    """:func:`static_outputs` begun: a helper process imports ``graph`` while the caller goes on, until it calls the result.

    Without a helper the import waits for the first call. Each call gives the same answer (or raises the same ImportFailed).
    """
    helper = active()
    if helper is not None:
        # The helper lightens what it is sent; big constants' values are dropped here first, only to keep them off
        # the pipe: only their dtypes and shapes count.
        sent = graph if lightened or graph.ByteSize() <= _PIPE_BYTES else light(graph)
        answer = helper.submit("static_outputs", sent.SerializeToString())
        make = lambda: StaticOutputs(_HelperImport(helper, answer))  # noqa: E731
    else:
        light_graph = graph if lightened else light(graph)
        make = lambda: StaticOutputs(import_graph(light_graph))  # noqa: E731
    return _once(make)


def _once(make: Callable[[], Any]) -> Callable[[], Any]:
    """``make`` called the first time, its result (or exception) given again after: a helper's answer is read once."""
    done: list[tuple[bool, Any]] = []

    def get() -> Any:
        if not done:
            try:
                done.append((True, make()))
            except (ImportFailed, InspectorError) as exc:
                done.append((False, exc))
        ok, value = done[0]
        if not ok:
            raise value
        return value

    return get


def shapes(g: WorkGraph, *, graph: GraphDef | None = None) -> StaticOutputs:
    """:func:`static_outputs` of the working graph, inferred again only after the graph was edited.

    ``graph``: the working graph as a GraphDef, when the caller has just made one (each conversion copies every node).
    """
    return g.cached("static_outputs", lambda: static_outputs(g.to_graphdef() if graph is None else graph))


def shapes_later(g: WorkGraph) -> Callable[[], StaticOutputs]:
    """:func:`shapes` of ``g`` as it is when first called, then the same answer: a pass that asks none imports nothing."""
    found: list[StaticOutputs] = []

    def get() -> StaticOutputs:
        if not found:
            found.append(shapes(g))
        return found[0]

    return get


def evaluate(graph: GraphDef, fetches: list[str]) -> list[np.ndarray]:
    """Run ``graph`` (constants only, no feeds) on the CPU and return the ``fetches`` tensors."""
    helper = active()
    if helper is not None:
        return _ask(helper, "evaluate", graph.SerializeToString(), fetches)
    tf = tfcompat.tf()
    cpu_only = GraphDef()
    cpu_only.CopyFrom(graph)
    for node in cpu_only.node:
        node.device = ""
        if "_class" in node.attr:
            del node.attr["_class"]
    imported = import_graph(cpu_only)
    for name in dict.fromkeys(ref.partition(":")[0] for ref in fetches):
        imported.op(name)
    config = tf.compat.v1.ConfigProto(device_count={"GPU": 0}, inter_op_parallelism_threads=1)
    # Grappler would rewrite (and constant-fold) the whole subgraph before running it once: seconds on big graphs.
    config.graph_options.rewrite_options.disable_meta_optimizer = True
    config.graph_options.optimizer_options.opt_level = tf.compat.v1.OptimizerOptions.L0
    with tf.compat.v1.Session(graph=imported.graph, config=config) as session:
        try:
            # A corrupt Const makes TensorFlow's C++ log the whole tensor to fd 2 before it raises.
            with tfcompat.quiet_stderr():
                return list(session.run(fetches))
        except (ValueError, TypeError, tf.errors.OpError) as exc:
            raise EvaluateFailed(tfcompat.error_line(exc)) from None


def evaluate_each(nodes: list[NodeDef], args: list[list[np.ndarray]]) -> list[np.ndarray | None]:
    """Output 0 of each node run by itself on the CPU, eagerly, fed ``args`` (its data inputs' values, in order).

    The same CPU kernel as in :func:`evaluate`, without a graph to import and a
    session to set up for it (~25 µs a node instead of ~250). None for a node this
    cannot run (an attribute kind it does not pass on, an op that refuses the
    inputs): :func:`evaluate` runs those, and says what is wrong with them.
    """
    helper = active()
    if helper is not None:
        return _ask(helper, "evaluate_each", [node.SerializeToString() for node in nodes], args)
    tf = tfcompat.tf()
    from tensorflow.python.eager import context, execute
    from tensorflow.python.framework import op_def_registry

    if not tf.executing_eagerly():  # a caller's TF1 program turned eager execution off: tf.constant would join its graph
        return [None] * len(nodes)
    ctx = context.context()
    ctx.ensure_initialized()
    values: list[np.ndarray | None] = []
    # A corrupt input makes TensorFlow's C++ log the whole tensor to fd 2 before it raises.
    with tf.device("/device:CPU:0"), tfcompat.quiet_stderr():
        for node, inputs in zip(nodes, args):
            op_def = op_def_registry.get(node.op)
            attrs = _eager_attrs(node)
            outputs = _output_count(op_def, node) if op_def is not None else None
            if attrs is None or not outputs:
                values.append(None)
                continue
            try:
                result = execute.execute(node.op, outputs, inputs=[tf.constant(a) for a in inputs], attrs=attrs, ctx=ctx)
                values.append(result[0].numpy())
            except (ValueError, TypeError, tf.errors.OpError):
                values.append(None)
    return values


def _eager_attrs(node: NodeDef) -> tuple | None:
    """``node``'s attributes as eager execution takes them (name, value, ...), or None for a kind not passed on."""
    flat: list = []
    for key, value in node.attr.items():
        if key.startswith("_"):  # TensorFlow's own (_class, _output_shapes): no part of the op
            continue
        kind = value.WhichOneof("value")
        if kind in ("type", "i", "f", "b", "s"):
            flat += [key, getattr(value, kind)]
        elif kind == "shape":
            shape = value.shape
            flat += [key, None if shape.unknown_rank else [None if d.size < 0 else d.size for d in shape.dim]]
        elif kind == "list":
            held = [field for field in ("type", "i", "f", "b", "s") if len(getattr(value.list, field))]
            if len(held) > 1 or len(value.list.shape) or len(value.list.tensor) or len(value.list.func):
                return None
            flat += [key, list(getattr(value.list, held[0])) if held else []]
        else:  # a tensor, a function, a placeholder: the graph path takes those
            return None
    return tuple(flat)


def _output_count(op_def: Any, node: NodeDef) -> int:
    count = 0
    for arg in op_def.output_arg:
        if arg.number_attr:
            count += node.attr[arg.number_attr].i if arg.number_attr in node.attr else 0
        elif arg.type_list_attr:
            count += len(node.attr[arg.type_list_attr].list.type) if arg.type_list_attr in node.attr else 0
        else:
            count += 1
    return count


def tensor_proto(value: np.ndarray) -> TensorProto:
    """Any NumPy value TensorFlow returned (strings, bfloat16 included) as a TensorProto, as tf.make_tensor_proto makes it."""
    content = content_tensor(value, half=True)
    if content is not None:
        return content
    if value.dtype.isnative and value.dtype.name != "bfloat16":
        # TensorBoard's copy of make_tensor_proto makes the same bytes for every other value (a scalar, a string),
        # and needs no TensorFlow in a process that asks a helper for the rest.
        from tensorboard.util import tensor_util

        return tensor_util.make_tensor_proto(value)
    tf = tfcompat.tf()
    return TensorProto.FromString(tf.make_tensor_proto(value).SerializeToString())


def op_info(op: str) -> tuple[bool, bool]:
    """(registered, safe to evaluate ahead of time): stateful ops and function calls are not."""
    helper = active()
    if helper is not None:
        return _ask(helper, "op_info", op)
    tfcompat.tf()
    from tensorflow.python.framework import op_def_registry

    op_def = op_def_registry.get(op)
    if op_def is None:
        return False, False
    calls = any(attr.type.startswith("func") for attr in op_def.attr)
    return True, not op_def.is_stateful and not calls
