"""The model's input normalisation (``--input-range``): what the pixels are turned into before the model.

Every :class:`~edgekit.optimize.data.Dataset` holds pixels scaled to [0, 1]. A model trained on other
inputs (keras.applications' MobileNetV2 with ``preprocess_input``: [-1, 1]; a model with its own
``Rescaling(1/255)`` layer: 0..255) needs them mapped first, the same way for training, int8
calibration, host evaluation and on-device evaluation. One record says how::

    r = parse_input_range("-1-1")          # "0-1" | "-1-1" | "0-255" | "mean=127.5,std=127.5"
    r = parse_input_range("mean=123.7,116.3,103.5,std=58.4,57.1,57.4")   # per channel (RGB)
    x_model = r.apply(x01)                 # float32, (x01 * 255 - mean) / std per channel
    r.to_dict() -> {"spec", "mean", "std", "source", "detail"}    # Manifest.input_range

``mean`` and ``std`` are in pixel units 0..255 (TFLite metadata's convention: ``mean=127.5,std=127.5``
is the same as ``-1-1``); when every mean and std is at most 1 they are read as 0..1 units
(torchvision's ``mean=0.485,0.456,0.406,std=0.229,0.224,0.225``) and stored converted.
``source``: "user" (given), "detected" (an in-model Rescaling/Normalization layer: see
:func:`detect`), "default" (0-1, nothing given or found).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgekit.errors import EdgekitError

NAMED = {"0-1": (0.0, 255.0), "-1-1": (127.5, 127.5), "0-255": (0.0, 1.0)}
HINT = ("give 0-1, -1-1, 0-255 or mean=M,std=S (pixel units 0..255; per channel: "
        "mean=123.7,116.3,103.5,std=58.4,57.1,57.4)")


@dataclass(frozen=True)
class InputRange:
    """How [0, 1] pixels become model inputs: ``(x * 255 - mean) / std`` (per channel when lists)."""

    spec: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str = "user"
    detail: str | None = None

    @property
    def identity(self) -> bool:
        """True when the model takes the [0, 1] pixels as they are."""
        return all(m == 0.0 for m in self.mean) and all(math.isclose(s, 255.0) for s in self.std)

    def channels(self) -> int:
        return max(len(self.mean), len(self.std))

    def check_channels(self, c: int) -> None:
        n = self.channels()
        if n not in (1, c):
            raise EdgekitError(f"--input-range {self.spec} has {n} values per channel but the images have {c} channels",
                               f"give 1 or {c} values for mean and std")

    def apply(self, x: np.ndarray | None) -> np.ndarray | None:
        """[0, 1] pixels (N, H, W, C) -> the model's inputs (float32); the same array when identity."""
        if x is None or self.identity:
            return x
        self.check_channels(int(x.shape[-1]))
        mean = np.asarray(self.mean, dtype=np.float32)
        std = np.asarray(self.std, dtype=np.float32)
        return ((np.asarray(x, dtype=np.float32) * np.float32(255.0) - mean) / std).astype(np.float32)

    def bounds(self) -> tuple[float, float]:
        """The smallest and largest model input (pixels 0 and 255 over every channel)."""
        lo = [(0.0 - m) / s for m, s in zip(_bcast(self.mean, self.channels()), _bcast(self.std, self.channels()))]
        hi = [(255.0 - m) / s for m, s in zip(_bcast(self.mean, self.channels()), _bcast(self.std, self.channels()))]
        return float(min(lo)), float(max(hi))

    def with_source(self, source: str, detail: str | None = None) -> "InputRange":
        return dataclasses.replace(self, source=source, detail=detail)

    def to_dict(self) -> dict[str, Any]:
        return {"spec": self.spec, "mean": [float(m) for m in self.mean], "std": [float(s) for s in self.std],
                "source": self.source, "detail": self.detail}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "InputRange":
        """A manifest's ``input_range`` (None: the default 0-1 of manifests written before the field)."""
        if not d:
            return DEFAULT
        return cls(str(d.get("spec", "")), tuple(float(m) for m in d["mean"]), tuple(float(s) for s in d["std"]),
                   str(d.get("source", "user")), d.get("detail"))


def _bcast(values: tuple[float, ...], n: int) -> tuple[float, ...]:
    return values if len(values) == n else values * n


def _numbers(text: str, what: str, spec: str) -> tuple[float, ...]:
    parts = [p for p in re.split(r"[,\s/]+", text.strip()) if p]
    try:
        vals = tuple(float(p) for p in parts)
    except ValueError:
        raise EdgekitError(f"--input-range {spec!r}: {what} {text!r} is not a list of numbers", HINT) from None
    if not vals or not all(math.isfinite(v) for v in vals):
        raise EdgekitError(f"--input-range {spec!r}: {what} needs finite numbers", HINT)
    return vals


def parse_input_range(text: str | InputRange | None) -> InputRange | None:
    """``--input-range`` text -> InputRange (None stays None); a one-line EdgekitError when unreadable."""
    if text is None or isinstance(text, InputRange):
        return text
    spec = str(text).strip().replace(" ", "")
    low = spec.lower()
    aliases = {"[0,1]": "0-1", "[-1,1]": "-1-1", "[0,255]": "0-255", "0..1": "0-1", "-1..1": "-1-1", "0..255": "0-255"}
    low = aliases.get(low, low)
    if low in NAMED:
        m, s = NAMED[low]
        return InputRange(low, (m,), (s,))
    found = re.fullmatch(r"mean=(?P<mean>.+?),?std=(?P<std>.+)", low)
    if not found:
        raise EdgekitError(f"--input-range {text!r} is not understood", HINT)
    mean = _numbers(found["mean"], "mean", spec)
    std = _numbers(found["std"], "std", spec)
    if len(mean) != len(std) and 1 not in (len(mean), len(std)):
        raise EdgekitError(f"--input-range {spec!r}: {len(mean)} means but {len(std)} stds", "give one value or one per channel for each")
    if any(s <= 0 for s in std):
        raise EdgekitError(f"--input-range {spec!r}: std must be positive", HINT)
    if all(abs(m) <= 1 for m in mean) and all(s <= 1 for s in std):   # 0..1 units (torchvision): to 0..255
        mean, std = tuple(m * 255.0 for m in mean), tuple(s * 255.0 for s in std)
    return InputRange(spec, mean, std)


DEFAULT = InputRange("0-1", (0.0,), (255.0,), "default")
COMMON = ("0-1", "-1-1")       # the two ranges tried on a sample when nothing is given or detected


def _first_layers(model, limit: int = 6) -> list:
    """The model's first layers (after the input), up to the first one with weights."""
    out = []
    for layer in getattr(model, "layers", [])[:limit]:
        name = type(layer).__name__
        if name == "InputLayer":
            continue
        out.append(layer)
        if name not in ("Rescaling", "Normalization") and layer.weights:
            break
    return out


def detect(model) -> InputRange | None:
    """The input range an in-model ``Rescaling`` or ``Normalization`` layer implies (duck-typed: no import).

    Such a model does its own normalisation, so it takes raw pixels: 0..255 when the layer scales by less
    than 0.1 (``Rescaling(1/255)``, ``Rescaling(1/127.5, offset=-1)``) or was adapted on values above 1.5,
    else 0..1. None when the first layers hold neither.
    """
    for layer in _first_layers(model):
        kind = type(layer).__name__
        if kind == "Rescaling":
            scale = np.asarray(getattr(layer, "scale", 1.0), dtype=np.float64)
            offset = np.asarray(getattr(layer, "offset", 0.0), dtype=np.float64)
            spec = "0-255" if float(np.max(np.abs(scale))) < 0.1 else "0-1"
            detail = f"{kind} layer {layer.name!r} (scale {float(np.ravel(scale)[0]):.4g}, offset {float(np.ravel(offset)[0]):.4g})"
        elif kind == "Normalization":
            mean = getattr(layer, "mean", None)
            mean = np.asarray(mean if mean is not None else 0.0, dtype=np.float64)
            spec = "0-255" if float(np.max(mean)) > 1.5 else "0-1"
            detail = f"{kind} layer {layer.name!r} (mean {float(np.ravel(mean)[0]):.4g})"
        else:
            continue
        return parse_input_range(spec).with_source("detected", detail)
    return None
