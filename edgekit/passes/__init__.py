"""Optimisation passes: one module per technique, described here as data.

A recipe chains passes. *Keras passes* (distill, prune, prune-2:4, cluster) turn a tf-keras model
into another; *export passes* (ptq-dynamic, ptq-float16, ptq-int8, qat) end a chain and produce
the .tflite file. A chain with no export pass is exported as float32.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class Param:
    type: type
    default: Any
    check: Callable[[Any], bool] = lambda v: True
    rule: str = ""
    choices: tuple = ()

    def validate(self, value: Any) -> str | None:
        """An error text for ``value``, or None when it is legal."""
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if self.type is bool and not isinstance(value, bool):
            return f"{value!r} is not true/false"
        if self.type in (int, float) and (isinstance(value, bool) or not isinstance(value, self.type)):
            return f"{value!r} is not a{'n integer' if self.type is int else ' number'}"
        if self.type is str and not isinstance(value, str):
            return f"{value!r} is not a string"
        if self.choices and value not in self.choices:
            return f"{value!r} is not one of {', '.join(map(str, self.choices))}"
        if not self.check(value):
            return f"{value!r} is out of range ({self.rule})"
        return None


TRAINING = {
    "batch_size": Param(int, 128, lambda v: 1 <= v <= 65536, "1 ≤ batch_size ≤ 65536"),
    "learning_rate": Param(float, None, lambda v: 0 < v < 1, "0 < learning_rate < 1"),
}


@dataclass(frozen=True)
class PassSpec:
    name: str
    kind: str                  # "keras" | "export"
    summary: str
    params: dict[str, Param] = field(default_factory=dict)
    primary: str | None = None  # the parameter a bare positional value sets: prune(0.8)
    needs_data: bool = True
    trains: bool = True


def _epochs(default: int, minimum: int = 1) -> Param:
    return Param(int, default, lambda v: minimum <= v <= 1000, f"{minimum} ≤ epochs ≤ 1000")


PASSES: dict[str, PassSpec] = {
    "distill": PassSpec(
        "distill", "keras", "train a small student on the model's softened outputs (knowledge distillation)",
        {
            # defaults measured on Fashion-MNIST (docs/distillation.md): a low temperature suits the
            # small student; cosine over 8 epochs at 8e-3 (4e-3 left both students ~0.3 pt short); no
            # augmentation (it costs the small student more than it gives)
            "temperature": Param(float, 1.0, lambda v: 0 < v <= 100, "0 < temperature ≤ 100"),
            "alpha": Param(float, 0.5, lambda v: 0 <= v <= 1, "0 ≤ alpha ≤ 1"),
            "epochs": _epochs(8),
            "unlabelled": Param(bool, False),
            "schedule": Param(str, "cosine", rule="the learning-rate schedule", choices=("constant", "cosine")),
            "augment": Param(str, "none", rule="training-time image augmentation",
                             choices=("none", "shift", "shift-flip")),
            "student": Param(str, "default", rule="'default' or a path to a tf-keras student model"),
            # the built-in student family (edgekit.optimize.student); resolution is also checked
            # against the data (≤ the images' shorter side) before any training
            "block": Param(str, "separable", rule="'separable' (MobileNet) or 'inverted' (MobileNetV2 inverted residual)",
                           choices=("separable", "inverted")),
            "width": Param(int, None, lambda v: 4 <= v <= 512,
                           "4 ≤ width ≤ 512, the stem's channels (default 16 separable, 8 inverted)"),
            "depth": Param(int, 1, lambda v: 1 <= v <= 6, "1 ≤ depth ≤ 6 blocks per stage"),
            "resolution": Param(int, None, lambda v: 8 <= v <= 4096,
                                "8 ≤ resolution ≤ the images' shorter side, in px"),
            **TRAINING,
            "learning_rate": Param(float, 0.008, lambda v: 0 < v < 1, "0 < learning_rate < 1"),
        },
        primary="temperature",
    ),
    "prune": PassSpec(
        "prune", "keras", "magnitude pruning with a polynomial schedule, stripped before export",
        {"sparsity": Param(float, 0.8, lambda v: 0 < v < 1, "0 < sparsity < 1"), "epochs": _epochs(2), **TRAINING},
        primary="sparsity",
    ),
    "prune-2:4": PassSpec(
        "prune-2:4", "keras", "2:4 structured pruning (2 of every 4 weights zero), stripped before export",
        {"epochs": _epochs(2), **TRAINING},
        primary="epochs",
    ),
    "cluster": PassSpec(
        "cluster", "keras", "weight clustering into k shared values per kernel, stripped before export",
        {
            "clusters": Param(int, 16, lambda v: 2 <= v <= 256, "2 ≤ clusters ≤ 256"),
            "init": Param(str, "kmeans++", choices=("kmeans++", "linear", "random", "density")),
            "epochs": _epochs(1, minimum=0),
            "preserve_sparsity": Param(str, "auto", choices=("auto", "yes", "no")),
            **TRAINING,
        },
        primary="clusters",
    ),
    "ptq-dynamic": PassSpec("ptq-dynamic", "export", "dynamic-range quantisation (int8 weights, float activations)",
                            {}, needs_data=False, trains=False),
    "ptq-float16": PassSpec("ptq-float16", "export", "float16 weights", {}, needs_data=False, trains=False),
    "ptq-int8": PassSpec(
        "ptq-int8", "export", "full-integer int8 (int8 input/output), calibrated on training data",
        {"calibration": Param(int, 256, lambda v: 1 <= v <= 100000, "1 ≤ calibration ≤ 100000")},
        primary="calibration", trains=False,
    ),
    "qat": PassSpec(
        "qat", "export", "quantisation-aware training, exported as full-integer int8",
        {
            "epochs": _epochs(1),
            "preserve": Param(str, "auto", choices=("auto", "none", "sparsity", "clusters", "sparsity+clusters")),
            "calibration": Param(int, 256, lambda v: 1 <= v <= 100000, "1 ≤ calibration ≤ 100000"),
            **TRAINING,
        },
        primary="epochs",
    ),
}

ALIASES = {"qat-int8": "qat", "int8": "ptq-int8", "dynamic": "ptq-dynamic", "float16": "ptq-float16",
           "prune24": "prune-2:4", "prune-2-4": "prune-2:4"}


def lookup(name: str) -> PassSpec | None:
    return PASSES.get(ALIASES.get(name, name))
