"""The built-in student family (issue 14 item 2): a stem, three stages of blocks, a classifier.

``build_student(input_shape, num_classes, width=None, depth=1, resolution=None, block="separable")``,
chosen in a recipe by ``distill(block="inverted", width=8, depth=2, resolution=14)``:

* an optional **resize** to ``resolution`` px on the image's shorter side, inside the model (so the
  exported .tflite takes the data's own images). When the image side is an integer multiple of the
  resolution it is an exact ``k×k`` average pool (AVERAGE_POOL_2D: int8-exact, and tfmot quantises it
  for QAT); otherwise a bilinear ``Resizing`` layer (RESIZE_BILINEAR: float, ptq-* and int8 work, but
  tfmot has no QAT for it, which the plan refuses in one line before training);
* a 3×3 **stem** conv of ``width`` channels (BatchNorm, ReLU);
* three **stages** of ``depth`` blocks each, ``width`` → ``2·width`` (stride 2), ``2·width`` →
  ``4·width`` (stride 2), ``4·width`` → ``4·width`` (stride 1). ``block`` chooses the block:

  - ``"separable"`` (the default): MobileNet-style 3×3 depthwise → 1×1 pointwise, BatchNorm + ReLU
    after each. With width 16 and depth 1 this is exactly the student edgekit has always had (9.6k
    parameters, 0.59 M MACs on 28×28×1; 90.6 % distilled at 4e-3, 91.5 % at 8e-3 on seed 0); the default
    recipe's students are width 32 (32.5k parameters, 92.4 % distilled; docs/distillation.md);
  - ``"inverted"``: MobileNetV2's inverted residual, 1×1 expand (×``EXPANSION``, except the first
    block, which starts from the stem) → 3×3 depthwise → 1×1 *linear* projection, BatchNorm, ReLU6
    after the first two, a residual add when input and output shapes match (w8 d1: 11.9k parameters,
    0.69 M MACs). Measured once against the default under the old training (seed 0, T=4, 4 constant
    epochs, the old 90.1 % teacher, all of Fashion-MNIST): 87.4 % float / 87.2 % int8 for w8, against
    88.2 % / 88.3 % — not the default. Under today's training (seed 0, width 16, 40.9k parameters):
    91.47 % from scratch, 92.05 % distilled, against 91.39 / 92.17 % for the separable width 32
    (docs/distillation.md, run I16);
* global average pooling, a dense ``logits`` layer and a Softmax (the exported .tflite outputs
  probabilities; :func:`edgekit.passes.distillation` finds the logits by name).

Parameters (checked by the recipe, and against the data before any training):

* ``block``: ``separable`` or ``inverted``;
* ``width``: the stem's channels, 4 … 512 (default 16 separable, 8 inverted); parameters and MACs
  grow ~ width²;
* ``depth``: blocks per stage, 1 … 6 (default 1: 3 blocks);
* ``resolution``: the shorter image side the student sees, 8 px … the data's shorter side (default:
  the data's own size, no resize); MACs shrink ~ resolution², parameters do not change.
"""

from __future__ import annotations

from typing import Any

from edgekit.passes import keras_env

BLOCKS = ("separable", "inverted")
BLOCK = "separable"
WIDTHS = {"separable": 16, "inverted": 8}   # the default width of each block kind
DEPTH = 1
EXPANSION = 3            # 1x1 expansion factor of a block's hidden layer (MobileNetV2 uses 6; 3 keeps
                         # the default student ~1/20 of the built-in teacher)
DEPTH_RANGE = (1, 6)     # blocks per stage
MIN_RESOLUTION = 8


def stages(width: int) -> list[tuple[int, int]]:
    """(output channels, stride) of the three stages."""
    return [(width * 2, 2), (width * 4, 2), (width * 4, 1)]


def resize_plan(input_shape: tuple[int, ...], resolution: int | None) -> tuple[str, Any]:
    """How the student resizes its input: ("none", None), ("pool", k) or ("resize", (h, w))."""
    h, w = int(input_shape[0]), int(input_shape[1])
    short = min(h, w)
    if resolution is None or resolution == short:
        return "none", None
    if short % resolution == 0:
        k = short // resolution
        if h % k == 0 and w % k == 0:
            return "pool", k
    return "resize", (max(1, round(h * resolution / short)), max(1, round(w * resolution / short)))


def resolution_problem(input_shape: tuple[int, ...], resolution: int | None) -> str | None:
    """Why ``resolution`` does not suit images of ``input_shape`` (None: it does)."""
    if resolution is None:
        return None
    short = min(int(input_shape[0]), int(input_shape[1]))
    if resolution > short:
        return (f"resolution {resolution} is larger than the images' shorter side ({short} px): "
                "the student only downsizes (upsizing adds MACs, not information)")
    return None


def resolved(params: dict) -> dict:
    """A distill step's family parameters with the defaults filled in (what the manifest records)."""
    block = params.get("block") or BLOCK
    out = {"block": block, "width": int(params.get("width") or WIDTHS[block]), "depth": int(params.get("depth") or DEPTH),
           "resolution": params.get("resolution")}
    if block == "inverted":
        out["expansion"] = EXPANSION
    return out


def build_student(input_shape: tuple[int, ...], num_classes: int, width: int | None = None, depth: int | None = None,
                  resolution: int | None = None, block: str | None = None, expansion: int = EXPANSION):
    """The built-in student of the family (see the module docstring)."""
    keras = keras_env.keras()
    L = keras.layers
    block = block or BLOCK
    if block not in BLOCKS:
        raise ValueError(f"unknown student block {block!r} (known: {', '.join(BLOCKS)})")
    width, depth = int(width or WIDTHS[block]), int(depth or DEPTH)
    inputs = L.Input(input_shape, name="image")
    x = inputs
    how, arg = resize_plan(input_shape, resolution)
    if how == "pool":
        x = L.AveragePooling2D(arg, name="resize")(x)
    elif how == "resize":
        x = L.Resizing(arg[0], arg[1], interpolation="bilinear", name="resize")(x)
    x = L.Conv2D(width, 3, padding="same", use_bias=False, name="stem")(x)
    x = L.BatchNormalization(momentum=0.9, name="stem_bn")(x)
    x = L.ReLU(6.0 if block == "inverted" else None, name="stem_relu")(x)
    channels = width
    n = 0
    for stage, (filters, stride) in enumerate(stages(width), start=1):
        for b in range(depth):
            n += 1
            s = stride if b == 0 else 1
            if block == "separable":   # (depth 1 keeps the names of edgekit's original student: dw1, pw1 ...)
                x = _separable(L, x, filters, s, f"{stage}" if b == 0 else f"{stage}b{b + 1}")
            else:
                x = _block(L, x, channels, filters, s, 1 if n == 1 else expansion, f"s{stage}b{b + 1}")
            channels = filters
    x = L.GlobalAveragePooling2D(name="gap")(x)
    x = L.Dense(num_classes, name="logits")(x)
    outputs = L.Softmax(name="probs")(x)
    return keras.Model(inputs, outputs, name="student")


def _separable(L, x, cout: int, stride: int, tag: str):
    """One MobileNet block: 3x3 depthwise → 1x1 pointwise, BatchNorm + ReLU after each."""
    x = L.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"dw{tag}")(x)
    x = L.BatchNormalization(momentum=0.9, name=f"dw{tag}_bn")(x)
    x = L.ReLU(name=f"dw{tag}_relu")(x)
    x = L.Conv2D(cout, 1, use_bias=False, name=f"pw{tag}")(x)
    x = L.BatchNormalization(momentum=0.9, name=f"pw{tag}_bn")(x)
    return L.ReLU(name=f"pw{tag}_relu")(x)


def _block(L, x, cin: int, cout: int, stride: int, expansion: int, name: str):
    """One inverted-residual block: 1x1 expand → 3x3 depthwise → 1x1 linear project (+ residual)."""
    inp = x
    if expansion != 1:
        x = L.Conv2D(cin * expansion, 1, use_bias=False, name=f"{name}_expand")(x)
        x = L.BatchNormalization(momentum=0.9, name=f"{name}_expand_bn")(x)
        x = L.ReLU(6.0, name=f"{name}_expand_relu")(x)
    x = L.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"{name}_dw")(x)
    x = L.BatchNormalization(momentum=0.9, name=f"{name}_dw_bn")(x)
    x = L.ReLU(6.0, name=f"{name}_dw_relu")(x)
    x = L.Conv2D(cout, 1, use_bias=False, name=f"{name}_project")(x)
    x = L.BatchNormalization(momentum=0.9, name=f"{name}_project_bn")(x)
    if stride == 1 and cin == cout:
        x = L.Add(name=f"{name}_add")([inp, x])
    return x


def keras_macs(model) -> int:
    """Multiply-accumulates of one inference of a Keras model (Conv2D, DepthwiseConv2D, Dense), from
    the layers' output shapes — the same count ``edgekit inspect`` reads from the .tflite."""
    keras = keras_env.keras()
    L = keras.layers
    total = 0
    for layer in model.layers:
        out = layer.output_shape if not isinstance(layer.output_shape, list) else layer.output_shape[0]
        spatial = 1
        for d in out[1:-1]:
            spatial *= int(d)
        if isinstance(layer, L.DepthwiseConv2D):
            kh, kw = layer.kernel_size
            total += spatial * int(out[-1]) * kh * kw
        elif isinstance(layer, L.Conv2D):
            kh, kw = layer.kernel_size
            total += spatial * int(out[-1]) * kh * kw * int(layer.input_shape[-1]) // layer.groups
        elif isinstance(layer, L.Dense):
            total += spatial * int(out[-1]) * int(layer.input_shape[-1])
    return int(total)
