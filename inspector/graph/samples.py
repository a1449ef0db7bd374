"""Small real graphs the project builds itself, for the demo, the tests and the benchmarks."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tensorboard.compat.proto.graph_pb2 import GraphDef

from inspector.atomic import write_bytes_atomic
from inspector.errors import InspectorError
from inspector.graph.tfcompat import tf

# MobileNet v1's 13 separable blocks as (stride, pointwise depth) at multiplier 1.0.
_MOBILENET_V1_BLOCKS: tuple[tuple[int, int], ...] = (
    (1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512),
    (1, 512), (1, 512), (1, 512), (1, 512), (1, 512), (2, 1024), (1, 1024),
)
_MOBILENET_V1_STEM_DEPTH = 32
# slim's mobilenet_v1 never makes a layer thinner than this.
_MIN_DEPTH = 8
# slim's batch_norm default, which mobilenet_v1_arg_scope keeps.
_BATCH_NORM_EPSILON = 0.001
# retrain.py takes the bottleneck from the ImageNet logits, so the base model keeps them.
_IMAGENET_CLASSES = 1001

KERAS_MODELS: tuple[str, ...] = ("MobileNet", "MobileNetV2", "InceptionV3")
_KERAS_MIN_INPUT = {"MobileNet": 32, "MobileNetV2": 32, "InceptionV3": 75}

_T = TypeVar("_T")


def retrain_shaped_mobilenet(
    *,
    size: int = 128,
    depth_multiplier: float = 0.25,
    blocks: int = 3,
    classes: int = 5,
    seed: int = 0,
    dropout: bool = False,
) -> GraphDef:
    """A frozen graph laid out like TF1 retrain.py's output for MobileNet v1.

    Same node names, ops and wiring as a real ``retrained_graph.pb`` (slim's
    unfused batch norm, Const + ``/read`` Identity per variable, the
    ``input_1/BottleneckInputPlaceholder`` and ``final_training_ops``), but only
    the first ``blocks`` separable blocks, so it stays small. Weights and batch
    norm statistics are random but fixed by ``seed``. ``dropout=True`` leaves a
    training-mode dropout before the final MatMul, so two runs on one input differ.
    """
    if not 1 <= blocks <= len(_MOBILENET_V1_BLOCKS):
        raise InspectorError(
            f"retrain_shaped_mobilenet: blocks={blocks}, but MobileNet v1 has 1 to {len(_MOBILENET_V1_BLOCKS)} "
            "separable blocks; pass a number in that range"
        )
    if size < 32:
        raise InspectorError(f"retrain_shaped_mobilenet: size={size} is too small; pass 32 pixels or more (the stem and pooling need them)")
    if classes < 2:
        raise InspectorError(f"retrain_shaped_mobilenet: classes={classes}, but a classifier needs two or more; pass classes=2 or more")
    if not depth_multiplier > 0:
        raise InspectorError(
            f"retrain_shaped_mobilenet: depth_multiplier={depth_multiplier} makes no layers; pass a positive one "
            "(retrain.py's MobileNets use 0.25, 0.5, 0.75 or 1.0)"
        )

    import numpy as np

    tensorflow = tf()
    v1 = tensorflow.compat.v1
    raw = tensorflow.raw_ops
    rng = np.random.RandomState(seed)

    def depth(d: int) -> int:
        return max(int(d * depth_multiplier), _MIN_DEPTH)

    def variable(scope: str, name: str, value: Any) -> Any:
        # Ref variables (not resource ones) are what TF1 made, and they freeze to
        # exactly the Const + "/read" Identity pairs a real retrained graph has.
        with tensorflow.name_scope(scope + "/"):
            return v1.Variable(value.astype(np.float32), name=name, use_resource=False)

    def conv_weights(shape: tuple[int, ...], fan_in: int) -> Any:
        return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)

    def batch_norm(x: Any, var_scope: str, op_scope: str, channels: int) -> Any:
        # Statistics far from (0, 1) so folding them into the weights changes numbers.
        beta = variable(var_scope + "/BatchNorm", "beta", rng.normal(0.0, 0.1, channels))
        gamma = variable(var_scope + "/BatchNorm", "gamma", rng.uniform(0.5, 1.5, channels))
        mean = variable(var_scope + "/BatchNorm", "moving_mean", rng.normal(0.0, 0.5, channels))
        variance = variable(var_scope + "/BatchNorm", "moving_variance", rng.uniform(0.5, 2.0, channels))
        # The op order slim's non-fused batch_norm freezes to.
        with tensorflow.name_scope(op_scope + "/BatchNorm/batchnorm/"):
            eps = raw.Add(x=variance, y=np.float32(_BATCH_NORM_EPSILON), name="add")
            rsqrt = raw.Rsqrt(x=eps, name="Rsqrt")
            scale = raw.Mul(x=rsqrt, y=gamma, name="mul")
            scaled = raw.Mul(x=x, y=scale, name="mul_1")
            shift = raw.Mul(x=mean, y=scale, name="mul_2")
            offset = raw.Sub(x=beta, y=shift, name="sub")
            return raw.Add(x=scaled, y=offset, name="add_1")

    def relu6(x: Any, op_scope: str) -> Any:
        with tensorflow.name_scope(op_scope + "/"):
            return raw.Relu6(features=x, name="Relu6")

    def conv2d(x: Any, weights: Any, stride: int, op_scope: str) -> Any:
        with tensorflow.name_scope(op_scope + "/"):
            return raw.Conv2D(
                input=x, filter=weights, strides=[1, stride, stride, 1], padding="SAME",
                use_cudnn_on_gpu=True, data_format="NHWC", dilations=[1, 1, 1, 1], name="convolution",
            )

    graph = tensorflow.Graph()
    with graph.as_default():
        image = v1.placeholder(tensorflow.float32, shape=[1, size, size, 3], name="input")

        channels = depth(_MOBILENET_V1_STEM_DEPTH)
        var_scope, op_scope = "MobilenetV1/Conv2d_0", "MobilenetV1/MobilenetV1/Conv2d_0"
        weights = variable(var_scope, "weights", conv_weights((3, 3, 3, channels), 3 * 3 * 3))
        net = conv2d(image, weights, 2, op_scope)
        net = relu6(batch_norm(net, var_scope, op_scope, channels), op_scope)
        spatial = -(-size // 2)

        for index, (stride, pointwise) in enumerate(_MOBILENET_V1_BLOCKS[:blocks], start=1):
            var_scope = f"MobilenetV1/Conv2d_{index}_depthwise"
            op_scope = f"MobilenetV1/MobilenetV1/Conv2d_{index}_depthwise"
            weights = variable(var_scope, "depthwise_weights", conv_weights((3, 3, channels, 1), 3 * 3))
            with tensorflow.name_scope(op_scope + "/"):
                net = raw.DepthwiseConv2dNative(
                    input=net, filter=weights, strides=[1, stride, stride, 1], padding="SAME",
                    data_format="NHWC", dilations=[1, 1, 1, 1], name="depthwise",
                )
            net = relu6(batch_norm(net, var_scope, op_scope, channels), op_scope)
            spatial = -(-spatial // stride)

            out = depth(pointwise)
            var_scope = f"MobilenetV1/Conv2d_{index}_pointwise"
            op_scope = f"MobilenetV1/MobilenetV1/Conv2d_{index}_pointwise"
            weights = variable(var_scope, "weights", conv_weights((1, 1, channels, out), channels))
            net = conv2d(net, weights, 1, op_scope)
            net = relu6(batch_norm(net, var_scope, op_scope, out), op_scope)
            channels = out

        # slim pools over the whole remaining map (VALID, stride 2 never moves it).
        with tensorflow.name_scope("MobilenetV1/Logits/AvgPool_1a/"):
            net = raw.AvgPool(
                value=net, ksize=[1, spatial, spatial, 1], strides=[1, 2, 2, 1],
                padding="VALID", data_format="NHWC", name="AvgPool",
            )
        with tensorflow.name_scope("MobilenetV1/Logits/Dropout_1b/"):
            net = raw.Identity(input=net, name="Identity")
        var_scope = "MobilenetV1/Logits/Conv2d_1c_1x1"
        weights = variable(var_scope, "weights", conv_weights((1, 1, channels, _IMAGENET_CLASSES), channels))
        biases = variable(var_scope, "biases", rng.normal(0.0, 0.1, _IMAGENET_CLASSES))
        net = conv2d(net, weights, 1, var_scope)
        with tensorflow.name_scope(var_scope + "/"):
            net = raw.BiasAdd(value=net, bias=biases, data_format="NHWC", name="BiasAdd")
        with tensorflow.name_scope("MobilenetV1/Logits/"):
            net = raw.Squeeze(input=net, axis=[1, 2], name="SpatialSqueeze")
        with tensorflow.name_scope("MobilenetV1/Predictions/"):
            logits = raw.Reshape(
                tensor=net, shape=np.array([-1, _IMAGENET_CLASSES], dtype=np.int32), name="Reshape"
            )

        # retrain.py opens name_scope("input") after the image placeholder took
        # that name, which is where the "input_1/" prefix comes from.
        with v1.name_scope("input"):
            bottleneck = v1.placeholder_with_default(
                logits, shape=[None, _IMAGENET_CLASSES], name="BottleneckInputPlaceholder"
            )
        if dropout:
            with tensorflow.name_scope("final_training_ops/drop/"):
                # No seed on purpose: like the dropout_active fixture, every run draws anew.
                bottleneck = tensorflow.nn.dropout(bottleneck, rate=0.5)
        with tensorflow.name_scope("final_training_ops/weights/"):
            final_weights = v1.Variable(
                rng.normal(0.0, 0.05, (_IMAGENET_CLASSES, classes)).astype(np.float32),
                name="final_weights", use_resource=False,
            )
        with tensorflow.name_scope("final_training_ops/biases/"):
            final_biases = v1.Variable(
                rng.normal(0.0, 0.1, classes).astype(np.float32), name="final_biases", use_resource=False
            )
        with tensorflow.name_scope("final_training_ops/Wx_plus_b/"):
            product = raw.MatMul(a=bottleneck, b=final_weights, name="MatMul")
            # TF1's "+" made Add (not AddV2), as in most real retrained graphs.
            net = raw.Add(x=product, y=final_biases, name="add")
        raw.Softmax(logits=net, name="final_result")

        from tensorflow.python.util import deprecation

        # The TF1 freezer is the point here; its deprecation notice would be noise on stderr.
        with v1.Session(graph=graph) as session, deprecation.silence():
            session.run(v1.global_variables_initializer())
            frozen = v1.graph_util.convert_variables_to_constants(
                session, graph.as_graph_def(), ["final_result"]
            )
    return _canonical(frozen)


def keras_frozen(name: str, *, input_size: int | None = None, seed: int = 0) -> GraphDef:
    """Freeze a ``keras.applications`` model (random weights) in inference mode, batch 1.

    ``name`` is one of :data:`KERAS_MODELS`; ``input_size`` defaults to the
    model's own (224, or 299 for InceptionV3). The input is the Placeholder
    ``input``; the output is the Softmax's ``Identity``.
    """
    if name not in KERAS_MODELS:
        raise InspectorError(f"keras_frozen: no Keras model {name!r} here; pick one of {', '.join(KERAS_MODELS)}")
    size = input_size if input_size is not None else (299 if name == "InceptionV3" else 224)
    if size < _KERAS_MIN_INPUT[name]:
        raise InspectorError(
            f"keras_frozen: {name} needs an input of at least {_KERAS_MIN_INPUT[name]} pixels, not {size}; "
            "pass a bigger input_size"
        )

    def build() -> GraphDef:
        tensorflow = tf()
        import keras

        model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3))
        _fill_weights(model, seed=seed)
        return _freeze_keras(tensorflow, model, (1, size, size, 3))

    return _in_fresh_thread(build)


def keras_conv_bn(*, seed: int = 0) -> GraphDef:
    """A tiny Keras 3 model frozen in inference mode: Conv2D(+bias), BatchNorm, ReLU, pool, Dense softmax.

    Input ``input`` [1, 32, 32, 3], 5 classes. The batch norm freezes to
    Rsqrt/Mul/Sub/AddV2 after the convolution's BiasAdd.
    """

    def build() -> GraphDef:
        tensorflow = tf()
        import keras

        inputs = keras.Input(shape=(32, 32, 3), batch_size=1, name="input")
        x = keras.layers.Conv2D(8, 3, padding="same", use_bias=True, name="conv")(inputs)
        x = keras.layers.BatchNormalization(name="bn")(x)
        x = keras.layers.ReLU(name="relu")(x)
        x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
        outputs = keras.layers.Dense(5, activation="softmax", name="predictions")(x)
        model = keras.Model(inputs, outputs, name="conv_bn")
        _fill_weights(model, seed=seed)
        return _freeze_keras(tensorflow, model, (1, 32, 32, 3))

    return _in_fresh_thread(build)


def renamed(graph: GraphDef, prefix: str = "exported/") -> GraphDef:
    """A copy with every node's name and every reference to it prefixed: the same graph under other names."""
    out = GraphDef()
    out.CopyFrom(graph)
    for node in out.node:
        node.name = prefix + node.name
        for i, ref in enumerate(node.input):
            node.input[i] = "^" + prefix + ref[1:] if ref.startswith("^") else prefix + ref
    return out


def write_graph(graph: GraphDef, path: Path) -> Path:
    """Write ``graph`` as a binary .pb, atomically; the same graph always gives the same bytes."""
    return write_bytes_atomic(Path(path), graph.SerializeToString(deterministic=True))


def _canonical(tf_graph_def: Any) -> GraphDef:
    # Deterministic serialisation sorts the attr maps, so equal graphs give equal bytes.
    return GraphDef.FromString(tf_graph_def.SerializeToString(deterministic=True))


def _in_fresh_thread(build: Callable[[], _T]) -> _T:
    # Keras numbers auto-named layers (conv2d_7, ...) with a per-thread counter.
    # A fresh thread starts it at zero, so every call yields the same node names
    # without clearing the caller's own Keras session.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(build).result()


def _fill_weights(model: Any, *, seed: int) -> None:
    """Overwrite every float weight from a seeded NumPy generator (Keras's own draws are not seeded)."""
    import numpy as np

    rng = np.random.RandomState(seed)
    for weight in model.weights:
        if not str(weight.dtype).startswith("float"):
            continue
        shape = tuple(weight.shape)
        leaf = weight.name.rsplit("/", 1)[-1]
        if leaf == "depthwise_kernel":
            fan_in = shape[0] * shape[1]
            value = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
        elif leaf == "kernel":
            fan_in = int(np.prod(shape[:-1]))
            value = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
        elif leaf == "gamma":
            value = rng.uniform(0.5, 1.5, shape)
        elif leaf == "moving_variance":
            # Far from 1 so that folding batch norm really changes the weights.
            value = rng.uniform(0.5, 2.0, shape)
        elif leaf == "moving_mean":
            value = rng.normal(0.0, 0.5, shape)
        else:  # bias, beta and anything new
            value = rng.normal(0.0, 0.05, shape)
        weight.assign(value.astype(weight.dtype))


def _freeze_keras(tensorflow: Any, model: Any, input_shape: tuple[int, ...]) -> GraphDef:
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    def serve(input: Any) -> Any:  # noqa: A002 - the argument name becomes the Placeholder's
        return model(input, training=False)

    concrete = tensorflow.function(serve).get_concrete_function(
        tensorflow.TensorSpec(input_shape, tensorflow.float32, name="input")
    )
    frozen = convert_variables_to_constants_v2(concrete)
    return _canonical(frozen.graph.as_graph_def())
