"""TF1-style CNNs as people write them by hand (odd channels, dropout placeholders, labels and a loss), frozen: for tests and benches."""

from __future__ import annotations

from dataclasses import dataclass

from tensorboard.compat.proto.graph_pb2 import GraphDef

from inspector.errors import InspectorError
from inspector.graph.tfcompat import tf

# How the dropout is written: TF 1.x's tf.nn.dropout(x, keep_prob) (x / keep_prob * floor(keep_prob + U)),
# TF 2's tf.nn.dropout(x, rate) with a placeholder or a constant rate, and Keras' Dropout left in training mode.
DROPOUT_FORMS = ("keep_prob", "rate", "constant", "keras", "none")


@dataclass(frozen=True)
class CustomNames:
    """The names a custom CNN's builder gave its placeholders and head (tests rename them to prove nothing relies on them)."""

    image: str = "Pholder0"
    keep: str = "Pholder1"
    label: str = "Pholder2"
    flag: str = "Pholder3"
    output: str = "y_pred"


def custom_cnn(
    *,
    channels: int = 1,
    size: int = 64,
    classes: int = 4,
    dropout: str = "keep_prob",
    keep_shape: bool = False,
    label: bool = False,
    training_flag: bool = False,
    batch_norm: bool = False,
    names: CustomNames = CustomNames(),
    seed: int = 0,
) -> GraphDef:
    """A frozen two-conv CNN on a [None, size, size, channels] float input, as a TF1 tutorial writes one.

    ``dropout`` (one of :data:`DROPOUT_FORMS`) sits before the last layer; its
    keep probability or rate placeholder is declared without a shape unless
    ``keep_shape``. ``label`` adds an int32 label placeholder, one-hot and
    reshaped, feeding a softmax cross-entropy loss and an accuracy metric, all
    kept in the frozen graph. ``training_flag`` adds a bool placeholder whose
    ``Switch``/``Merge`` pair (TF1's ``tf.cond``) applies the dropout only when
    true. ``batch_norm`` puts an unfused batch norm after the first conv.
    """
    if dropout not in DROPOUT_FORMS:
        raise InspectorError(f"custom_cnn: no dropout form {dropout!r}; pick one of {', '.join(DROPOUT_FORMS)}")
    if channels < 1 or size < 8 or classes < 2:
        raise InspectorError(f"custom_cnn: channels={channels}, size={size}, classes={classes}; pass channels >= 1, size >= 8, classes >= 2")

    import numpy as np

    tensorflow = tf()
    v1 = tensorflow.compat.v1
    raw = tensorflow.raw_ops
    rng = np.random.RandomState(seed)

    def weights(shape: tuple[int, ...], name: str) -> object:
        fan_in = int(np.prod(shape[:-1]))
        return v1.Variable(rng.normal(0.0, np.sqrt(2.0 / fan_in), shape).astype(np.float32), name=name, use_resource=False)

    def bias(n: int, name: str) -> object:
        return v1.Variable(rng.normal(0.0, 0.1, n).astype(np.float32), name=name, use_resource=False)

    graph = tensorflow.Graph()
    with graph.as_default():
        x = v1.placeholder(tensorflow.float32, [None, size, size, channels], name=names.image)
        keep = None
        if dropout == "keep_prob":
            keep = v1.placeholder(tensorflow.float32, [] if keep_shape else None, name=names.keep)
        elif dropout == "rate":
            keep = v1.placeholder(tensorflow.float32, [] if keep_shape else None, name=names.keep)
        flag = v1.placeholder(tensorflow.bool, [], name=names.flag) if training_flag else None

        net = raw.Conv2D(input=x, filter=weights((3, 3, channels, 8), "W_conv1"), strides=[1, 1, 1, 1], padding="SAME")
        net = raw.BiasAdd(value=net, bias=bias(8, "b_conv1"))
        if batch_norm:
            mean = v1.Variable(rng.normal(0, 0.5, 8).astype(np.float32), name="bn_mean", use_resource=False)
            var = v1.Variable(rng.uniform(0.5, 2.0, 8).astype(np.float32), name="bn_var", use_resource=False)
            net = v1.nn.batch_normalization(net, mean, var, offset=bias(8, "bn_beta"), scale=None, variance_epsilon=1e-3)
        net = raw.Relu(features=net)
        net = raw.MaxPool(input=net, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME")
        net = raw.Conv2D(input=net, filter=weights((3, 3, 8, 16), "W_conv2"), strides=[1, 1, 1, 1], padding="SAME")
        net = raw.Relu(features=raw.BiasAdd(value=net, bias=bias(16, "b_conv2")))
        net = raw.MaxPool(input=net, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME")
        flat = (-(-size // 4)) ** 2 * 16
        net = raw.Reshape(tensor=net, shape=np.array([-1, flat], dtype=np.int32))
        net = raw.Relu(features=raw.Add(x=raw.MatMul(a=net, b=weights((flat, 32), "W_fc1")), y=bias(32, "b_fc1")))

        def drop(value: object) -> object:
            if dropout == "keep_prob":
                # TF 1.x's nn_ops.dropout, op for op: keep_prob + U[0, 1), floored, times x / keep_prob.
                noise = raw.RandomUniform(shape=raw.Shape(input=value), dtype=tensorflow.float32, seed=0, seed2=0)
                binary = raw.Floor(x=raw.Add(x=keep, y=noise))
                return raw.Mul(x=raw.RealDiv(x=value, y=keep), y=binary)
            if dropout in ("rate", "constant"):
                return tensorflow.nn.dropout(value, rate=keep if dropout == "rate" else 0.25)
            if dropout == "keras":
                import keras

                return keras.layers.Dropout(0.3)(value, training=True)
            return value

        if flag is not None and dropout != "none":
            # TF1's tf.cond(flag, lambda: dropout(net), lambda: net), as control flow v1 builds it.
            off, on = raw.Switch(data=net, pred=flag)
            net = raw.Merge(inputs=[off, drop(on)])[0]
        else:
            net = drop(net)
        logits = raw.Add(x=raw.MatMul(a=net, b=weights((32, classes), "W_fc2")), y=bias(classes, "b_fc2"))
        raw.Softmax(logits=logits, name=names.output)
        kept = [names.output]
        if label:
            y = v1.placeholder(tensorflow.int32, [None], name=names.label)
            one_hot = raw.Reshape(tensor=tensorflow.one_hot(y, classes), shape=np.array([-1, classes], dtype=np.int32),
                                  name="y_true")
            loss = tensorflow.reduce_mean(
                tensorflow.nn.softmax_cross_entropy_with_logits(labels=one_hot, logits=logits), name="cost")
            correct = tensorflow.equal(tensorflow.argmax(logits, 1), tensorflow.argmax(one_hot, 1))
            accuracy = tensorflow.reduce_mean(tensorflow.cast(correct, tensorflow.float32), name="accuracy")
            kept += [loss.op.name, accuracy.op.name, "y_true"]

        from tensorflow.python.util import deprecation

        with v1.Session(graph=graph) as session, deprecation.silence():
            session.run(v1.global_variables_initializer())
            frozen = v1.graph_util.convert_variables_to_constants(session, graph.as_graph_def(), kept)
    return GraphDef.FromString(frozen.SerializeToString(deterministic=True))


__all__ = ["custom_cnn", "CustomNames", "DROPOUT_FORMS"]
