"""Training-time image augmentation and the learning-rate schedule the training passes share.

``augment`` is one of :data:`AUGMENTS`:

* ``"none"``: the images as they are;
* ``"shift"``: each image moved by up to ``SHIFT`` px in x and y (edges repeated, so any input range
  works: 0-1, -1-1, 0-255);
* ``"shift-flip"``: the same, and half the images mirrored left-right (photos, clothes; not for
  text or digits, where a mirror changes the class).

Batches are made in NumPy from a seeded generator (deterministic: the same seed, the same batches).
The targets (labels, or a distilled student's teacher outputs) are those of the original image:
the augmentations keep the class.

``schedule`` is one of :data:`SCHEDULES`: ``"constant"`` (the learning rate throughout) or
``"cosine"`` (a linear warm-up over the first ``WARMUP`` of the steps from a tenth of the rate, then
cosine decay to zero).
"""

from __future__ import annotations

import math

import numpy as np

from edgekit.passes import keras_env

AUGMENTS = ("none", "shift", "shift-flip")
SCHEDULES = ("constant", "cosine")
SHIFT = 2          # px, each direction
WARMUP = 0.05      # share of all steps spent warming up (cosine)


def shift_flip(x: np.ndarray, rng: np.random.Generator, *, flip: bool, shift: int = SHIFT) -> np.ndarray:
    """``x`` (N, H, W, C) moved by up to ``shift`` px (and mirrored at random when ``flip``)."""
    n, h, w = x.shape[:3]
    out = np.empty_like(x)
    if shift > 0:
        padded = np.pad(x, ((0, 0), (shift, shift), (shift, shift), (0, 0)), mode="edge")
        dy = rng.integers(0, 2 * shift + 1, n)
        dx = rng.integers(0, 2 * shift + 1, n)
        rows = dy[:, None] + np.arange(h)[None, :]            # (N, H)
        cols = dx[:, None] + np.arange(w)[None, :]            # (N, W)
        out[...] = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    else:
        out[...] = x
    if flip:
        mirror = rng.random(n) < 0.5
        out[mirror] = out[mirror, :, ::-1]
    return out


def batches(x: np.ndarray, y: np.ndarray, *, batch_size: int, augment: str, seed: int,
            soft_views: np.ndarray | None = None):
    """A keras ``Sequence`` over (x, y): shuffled every epoch, each batch augmented.

    ``soft_views`` (epochs, len(x), k): targets computed on the augmented images themselves, in the
    sequence's order (:func:`epoch_images`), appended to ``y``'s row for each batch — a teacher that
    sees exactly what the student sees."""
    keras = keras_env.keras()
    if augment not in AUGMENTS:
        raise ValueError(f"augment {augment!r} is not one of {', '.join(AUGMENTS)}")

    class Batches(keras.utils.Sequence):
        """Epoch e's order and batch i's augmentation come from rng(seed, e[, i]): the same
        batches however often (or in which order) keras asks for them."""

        def __init__(self):
            super().__init__()
            self.set_epoch(0)

        def set_epoch(self, epoch: int) -> None:
            self.epoch = epoch
            self.order = np.random.default_rng((seed, epoch)).permutation(len(x))

        def __len__(self):
            return math.ceil(len(x) / batch_size)

        def images(self, i):
            idx = np.sort(self.order[i * batch_size:(i + 1) * batch_size])
            xb = x[idx]
            if augment != "none":
                rng = np.random.default_rng((seed, self.epoch, i + 1))
                xb = shift_flip(xb, rng, flip=augment == "shift-flip")
            return idx, xb

        def __getitem__(self, i):
            idx, xb = self.images(i)
            yb = y[idx]
            if soft_views is not None:
                views = soft_views[min(self.epoch, len(soft_views) - 1)]
                yb = np.concatenate([yb, views[i * batch_size:(i + 1) * batch_size]], axis=1)
            return xb, yb

        def on_epoch_end(self):
            self.set_epoch(self.epoch + 1)

    return Batches()


def epoch_images(x: np.ndarray, *, batch_size: int, augment: str, seed: int, epoch: int) -> np.ndarray:
    """Every image :func:`batches` hands out in ``epoch``, in that order (for a teacher to label)."""
    seq = batches(x, np.zeros(len(x)), batch_size=batch_size, augment=augment, seed=seed)
    seq.set_epoch(epoch)
    return np.concatenate([seq.images(i)[1] for i in range(len(seq))])


def learning_rate(rate: float, schedule: str, *, steps: int):
    """The optimizer's learning rate: ``rate`` itself, or a warm-up + cosine schedule over ``steps``."""
    keras = keras_env.keras()
    if schedule == "constant":
        return rate
    if schedule != "cosine":
        raise ValueError(f"schedule {schedule!r} is not one of {', '.join(SCHEDULES)}")
    warmup = max(1, int(round(WARMUP * steps)))
    return keras.optimizers.schedules.CosineDecay(rate / 10, decay_steps=max(1, steps - warmup), alpha=0.0,
                                                  warmup_target=rate, warmup_steps=warmup)
