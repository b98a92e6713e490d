"""Keras 3 model config -> tf-keras model config (pure data: no TensorFlow, no Keras imported here).

What differs between the two formats, and what is done about it:

- serialised objects (initialisers, regularisers, dtype policies) carry ``module`` and
  ``registered_name``: dropped; a dtype policy becomes its name (``"float32"``);
- ``InputLayer``: ``batch_shape`` -> ``batch_input_shape``;
- a functional layer's inbound node is ``{"args": [tensor | [tensors]], "kwargs": {...}}`` with
  ``keras_history`` -> tf-keras' ``[[name, node, tensor, kwargs], ...]``; kwargs that are None
  (``mask: None``) are dropped, ``training`` is kept;
- operations on tensors in a functional model (``x + 3.0``, ``x * (1/6)`` in MobileNetV3) are
  serialised as ``keras.src.ops`` nodes: tensor (op) number becomes a ``Rescaling`` layer, tensor
  (op) tensor the merge layer (``Add``, ``Multiply``, ``Subtract``);
- activations that tf-keras lacks or defines differently: ``hard_sigmoid`` (Keras 3: relu6(x+3)/6,
  tf-keras: a 0.2-slope line) and ``hard_silu``/``hard_swish`` become ``Rescaling(1/6, 0.5)`` +
  ``ReLU(max_value=1)`` (+ ``Multiply`` with the input); ``silu`` is tf-keras' ``swish``;
- ``LeakyReLU``'s ``negative_slope`` is tf-keras' ``alpha``;
- options tf-keras does not have are dropped when they hold their neutral value (``lora_rank: None``,
  ``optional: False``); any other value makes the layer unsupported.

A layer keeps its name (weights are copied by name); extra layers of an expansion are named
``NAME__...`` and the last one of the expansion stands for NAME in later references.
"""

from __future__ import annotations

import copy
from typing import Any

MODEL_CLASSES = ("Functional", "Sequential", "Model")

# Layers whose Keras 3 arguments are tf-keras' own (after the generic clean-up above).
SAME_API = {
    "InputLayer", "Conv1D", "Conv2D", "Conv2DTranspose", "DepthwiseConv2D", "SeparableConv2D", "Dense",
    "BatchNormalization", "LayerNormalization", "Dropout", "SpatialDropout2D", "Flatten", "Reshape", "Permute",
    "ZeroPadding2D", "Cropping2D", "UpSampling2D", "MaxPooling2D", "AveragePooling2D", "MaxPooling1D",
    "AveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "GlobalAveragePooling1D",
    "GlobalMaxPooling1D", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate",
    "ReLU", "Softmax", "ELU", "LeakyReLU", "Activation", "Rescaling", "Normalization",
}

# Option -> neutral value: dropped when it has this value (tf-keras has no such option).
NEUTRAL = {"optional": False, "lora_rank": None, "lora_alpha": None, "quantization_config": None,
           "rms_scaling": False, "ragged": False}

DROPPED = ("module", "registered_name", "build_config", "compile_config", "shared_object_id")
DROPPED_IF_NONE = ("input_axes", "output_axes")    # Keras 3 initialisers' options (None: tf-keras' behaviour)

ACTIVATIONS = {"silu": "swish"}     # same function, tf-keras' name
EXPANDED = ("hard_sigmoid", "hard_silu", "hard_swish")

OPS = {"Add": "add", "Multiply": "multiply", "Subtract": "subtract", "Divide": "divide", "TrueDivide": "divide"}


class Unsupported(Exception):
    """A Keras 3 layer (or option) with no tf-keras translation."""

    def __init__(self, layer_class: str, layer_name: str, why: str = ""):
        super().__init__(f"{layer_class} ({layer_name}){': ' + why if why else ''}")
        self.layer_class, self.layer_name, self.why = layer_class, layer_name, why


def translate_model(serialised: dict) -> dict:
    """A Keras 3 ``serialize_keras_object(model)`` dict -> ``{"class_name", "config"}`` for tf-keras."""
    cls = serialised.get("class_name")
    cfg = serialised.get("config") or {}
    if cls == "Sequential":
        return {"class_name": "Sequential", "config": _sequential(cfg)}
    if cls in ("Functional", "Model") and "layers" in cfg:
        return {"class_name": "Functional", "config": _functional(cfg)}
    raise Unsupported(str(cls), str(cfg.get("name", "model")), "only Sequential and functional models can be rebuilt "
                      "(a subclassed model has no layer graph to translate)")


# --------------------------------------------------------------------------- generic clean-up

def clean(value: Any) -> Any:
    """Strip Keras 3 serialisation wrappers recursively; dtype policies become their names."""
    if isinstance(value, dict):
        if value.get("class_name") in ("DTypePolicy", "FloatDTypePolicy", "Policy") and isinstance(value.get("config"), dict):
            return value["config"].get("name", "float32")
        if value.get("class_name") == "__tuple__":
            return [clean(v) for v in value.get("items", [])]
        return {k: clean(v) for k, v in value.items() if k not in DROPPED
                and not (k in DROPPED_IF_NONE and v is None)}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


def _activation_name(value: Any, layer: str, cls: str) -> str:
    if value is None:
        return "linear"
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("config"), str):
        return value["config"]     # {"class_name": "function", "config": "relu"}
    raise Unsupported(cls, layer, f"activation {value!r}")


def _layer_config(cls: str, cfg: dict, layer: str) -> dict:
    """The tf-keras config of one same-API layer (no expansion)."""
    out = clean(copy.deepcopy(cfg))
    for key, neutral in NEUTRAL.items():
        if key in out:
            if out[key] != neutral:
                raise Unsupported(cls, layer, f"option {key}={out[key]!r} has no tf-keras equivalent")
            del out[key]
    if cls == "InputLayer":
        if "batch_shape" in out:
            out["batch_input_shape"] = out.pop("batch_shape")
        out.pop("input_tensor", None)
        out.pop("shape", None)
        out.pop("batch_size", None)
    if cls == "LeakyReLU" and "negative_slope" in out:
        out["alpha"] = out.pop("negative_slope")
    if "activation" in out:
        name = _activation_name(out["activation"], layer, cls)
        out["activation"] = ACTIVATIONS.get(name, name)
    return out


# --------------------------------------------------------------------------- one layer -> tf-keras layers

def _expand(cls: str, cfg: dict, name: str) -> list[tuple[str, dict, str]]:
    """One Keras 3 layer -> [(tf-keras class, config, role)], role "main" | "chain" | "swish".

    "chain" layers take the previous one's output; a "swish" layer multiplies the main layer's
    output by the previous layer's.
    """
    if cls not in SAME_API:
        raise Unsupported(cls, name)
    out = _layer_config(cls, cfg, name)
    act = out.get("activation")
    layers = []
    if act in EXPANDED:
        out["activation"] = "linear"
        if cls == "Activation":
            # the Activation itself becomes the first layer of the expansion (it has no weights)
            layers.append(("Rescaling", {"name": name, "scale": 1.0 / 6.0, "offset": 0.5, "dtype": out.get("dtype", "float32")}, "main"))
        else:
            layers.append((cls, out, "main"))
            layers.append(("Rescaling", {"name": f"{name}__hs_scale", "scale": 1.0 / 6.0, "offset": 0.5}, "chain"))
        layers.append(("ReLU", {"name": f"{name}__hs_clip", "max_value": 1.0}, "chain"))
        if act != "hard_sigmoid":
            layers.append(("Multiply", {"name": f"{name}__hs_mul"}, "swish"))
        return layers
    return [(cls, out, "main")]


def _op_layer(cls: str, name: str, args: list) -> tuple[str, dict, list]:
    """A ``keras.src.ops`` node -> (tf-keras class, config, tensor args)."""
    op = OPS.get(cls)
    tensors = [a for a in args if _is_tensor(a)]
    consts = [a for a in args if isinstance(a, (int, float)) and not isinstance(a, bool)]
    if op is None or len(args) != 2 or len(tensors) + len(consts) != 2 or not tensors:
        raise Unsupported(f"ops.{cls}", name, "an operation on tensors with no tf-keras layer equivalent")
    if len(tensors) == 2:
        if op == "divide":
            raise Unsupported(f"ops.{cls}", name, "tensor / tensor")
        return {"add": "Add", "multiply": "Multiply", "subtract": "Subtract"}[op], {"name": name}, tensors
    c = float(consts[0])
    tensor_first = _is_tensor(args[0])
    scale, offset = {
        "add": (1.0, c),
        "multiply": (c, 0.0),
        "subtract": (1.0, -c) if tensor_first else (-1.0, c),
        "divide": (1.0 / c, 0.0) if tensor_first and c != 0 else (None, None),
    }[op]
    if scale is None:
        raise Unsupported(f"ops.{cls}", name, "number / tensor")
    return "Rescaling", {"name": name, "scale": scale, "offset": offset}, tensors


def _is_tensor(a: Any) -> bool:
    return isinstance(a, dict) and a.get("class_name") == "__keras_tensor__"


# --------------------------------------------------------------------------- Sequential

def _sequential(cfg: dict) -> dict:
    layers = []
    for entry in cfg.get("layers", []):
        cls, name = entry.get("class_name"), entry.get("config", {}).get("name", "?")
        if cls in MODEL_CLASSES:
            layers.append(translate_model(entry))
            continue
        expansion = _expand(cls, entry.get("config", {}), name)
        if any(role == "swish" for _, _, role in expansion):
            raise Unsupported(cls, name, "hard_swish inside a Sequential model (it needs a branch)")
        layers.extend({"class_name": c, "config": conf} for c, conf, _ in expansion)
    if not layers or layers[0]["class_name"] != "InputLayer":
        shape = cfg.get("build_input_shape")
        if shape is None:
            raise Unsupported("Sequential", cfg.get("name", "sequential"), "the model was never built (no input shape)")
        layers.insert(0, {"class_name": "InputLayer", "config": {"batch_input_shape": shape, "name": f"{cfg.get('name')}__input"}})
    return {"name": cfg.get("name", "sequential"), "layers": layers}


# --------------------------------------------------------------------------- Functional

NESTED = "\0nested"   # key in the rename map: the set of nested models' names


def _functional(cfg: dict) -> dict:
    rename: dict[str, Any] = {}     # Keras 3 layer name -> the tf-keras layer that stands for its output
    layers: list[dict] = []
    for entry in cfg["layers"]:
        cls = entry.get("class_name")
        name = entry.get("name") or entry.get("config", {}).get("name")
        module = entry.get("module") or ""
        nodes = entry.get("inbound_nodes", [])
        if module.startswith("keras.src.ops") or module.startswith("keras.ops"):
            for node in nodes:
                if node.get("kwargs"):
                    raise Unsupported(f"ops.{cls}", name, f"keyword arguments {sorted(node['kwargs'])}")
            if len(nodes) != 1:
                raise Unsupported(f"ops.{cls}", name, "an operation used more than once")
            tcls, tcfg, tensors = _op_layer(cls, name, nodes[0].get("args", []))
            refs = [_ref(t, rename, {}) for t in tensors]
            layers.append({"class_name": tcls, "config": tcfg, "name": name, "inbound_nodes": [refs]})
            continue
        if cls in MODEL_CLASSES:
            sub = translate_model(entry)
            rename.setdefault(NESTED, set()).add(name)   # type: ignore[union-attr]
            inbound = [_node(n, rename, cls, name) for n in nodes]
            layers.append({"class_name": sub["class_name"], "config": sub["config"], "name": name, "inbound_nodes": inbound})
            continue
        expansion = _expand(cls, entry.get("config", {}), name)
        inbound = [_node(n, rename, cls, name) for n in nodes]
        main_name = expansion[0][1]["name"]
        prev = main_name
        for tcls, tcfg, role in expansion:
            lname = tcfg["name"]
            if role == "main":
                layers.append({"class_name": tcls, "config": tcfg, "name": lname, "inbound_nodes": inbound})
            elif role == "chain":
                layers.append({"class_name": tcls, "config": tcfg, "name": lname,
                               "inbound_nodes": [[[prev, i, 0, {}]] for i in range(len(inbound))]})
            else:   # swish: the expansion's input times the hard sigmoid of it
                if cls == "Activation":
                    nodes_out = [[inbound[i][0], [prev, i, 0, {}]] for i in range(len(inbound))]
                else:
                    nodes_out = [[[main_name, i, 0, {}], [prev, i, 0, {}]] for i in range(len(inbound))]
                layers.append({"class_name": tcls, "config": tcfg, "name": lname, "inbound_nodes": nodes_out})
            prev = lname
        rename[name] = prev
    return {"name": cfg.get("name", "model"), "layers": layers,
            "input_layers": [_endpoint(e, rename) for e in _endpoints(cfg.get("input_layers"))],
            "output_layers": [_endpoint(e, rename) for e in _endpoints(cfg.get("output_layers"))]}


def _endpoints(value) -> list:
    """Keras 3 writes one endpoint as ``[name, 0, 0]`` and several as a list of them."""
    if not value:
        return []
    if isinstance(value[0], str):
        return [value]
    return list(value)


def _endpoint(e: list, rename: dict[str, Any]) -> list:
    return [rename.get(e[0], e[0]), e[1] + (1 if e[0] in rename.get(NESTED, ()) else 0), e[2]]


def _ref(tensor: dict, rename: dict[str, str], kwargs: dict) -> list:
    name, node, index = tensor["config"]["keras_history"]
    # tf-keras counts a nested model's own first node (its input), Keras 3 does not
    return [rename.get(name, name), node + (1 if name in rename.get(NESTED, ()) else 0), index, kwargs]


def _node(node: dict, rename: dict[str, str], cls: str, name: str) -> list:
    """One Keras 3 inbound node -> tf-keras' list of [layer, node, tensor, kwargs]."""
    args = node.get("args", [])
    kwargs = {k: v for k, v in (node.get("kwargs") or {}).items() if v is not None}
    for k, v in kwargs.items():
        if k != "training" or not isinstance(v, bool):
            raise Unsupported(cls, name, f"called with {k}={v!r}")
    if len(args) != 1:
        raise Unsupported(cls, name, f"called with {len(args)} positional arguments")
    first = args[0]
    tensors = first if isinstance(first, list) else [first]
    if not tensors or not all(_is_tensor(t) for t in tensors):
        raise Unsupported(cls, name, "called on something that is not a tensor")
    return [_ref(t, rename, kwargs) for t in tensors]
