"""Knowledge distillation: a big teacher trains a small student.

Loss = alpha * CE(labels, student) + (1 - alpha) * T^2 * KL(teacher_T || student_T), where ``_T``
is the temperature-softened distribution. The teacher's softened targets come from its output
probabilities (p ** (1/T), renormalised — identical to softmax(logits / T)), so any classifier that
outputs probabilities can teach. Labelled and unlabelled images train together: a label of -1 (or
no labels at all, ``y=None``) means "no label", and that image's loss is the soft term alone — a big
model generating the training signal for a small one.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from edgekit.passes import keras_env


def soften(probs: np.ndarray, temperature: float) -> np.ndarray:
    logp = np.log(np.clip(probs.astype(np.float64), 1e-12, 1.0)) / temperature
    logp -= logp.max(axis=1, keepdims=True)
    p = np.exp(logp)
    return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)


def hard_targets(y, n: int, num_classes: int) -> np.ndarray:
    """One-hot rows for the labels ``y`` (``n`` rows); a row of zeros where the label is -1 or there are
    no labels (``y=None``): no label, no hard term."""
    hard = np.zeros((n, num_classes), np.float32)
    if y is not None:
        y = np.asarray(y)
        labelled = y >= 0
        hard[np.flatnonzero(labelled), y[labelled]] = 1.0
    return hard


def kd_loss(num_classes: int, temperature: float, alpha: float) -> Callable:
    """The distillation loss per example on targets ``[hard | soft]`` (the first ``num_classes`` columns the
    one-hot label, the next ``num_classes`` the teacher's softened outputs) and the student's logits:
    alpha * CE(hard, student) + (1 - alpha) * T^2 * KL(soft || student_T)."""
    tf = keras_env.tf()
    t, a, k = float(temperature), float(alpha), int(num_classes)

    def loss(y_true, logits):
        hard_t, soft_t = y_true[:, :k], y_true[:, k:2 * k]
        ce = tf.nn.softmax_cross_entropy_with_logits(hard_t, logits)   # 0 where the row has no label
        log_student_t = tf.nn.log_softmax(logits / t)
        kl = tf.reduce_sum(soft_t * (tf.math.log(tf.clip_by_value(soft_t, 1e-12, 1.0)) - log_student_t), axis=1)
        return a * ce + (1.0 - a) * (t * t) * kl

    return loss


def distill(teacher, student, x, y=None, *, num_classes: int, temperature: float = 1.0, alpha: float = 0.5,
            epochs: int = 8, batch_size: int = 128, learning_rate: float = 8e-3, progress=None,
            teacher_probs: np.ndarray | None = None, augment: str = "none", schedule: str = "cosine",
            seed: int = 0, view_probs: Callable[[int, np.ndarray], np.ndarray] | None = None,
            fresh: bool = True):
    """Train ``student`` (in place, and returned) from ``teacher`` on ``x`` (labels ``y`` optional;
    -1: this image has none). ``augment``/``schedule``: :func:`edgekit.passes.training.fit`.

    Without augmentation the teacher runs once over ``x`` before training (its softened outputs are
    the targets); pass ``teacher_probs`` (its output probabilities on ``x``) to reuse them across
    students. With augmentation the teacher labels the augmented images the student trains on, every
    epoch's (a consistent teacher: the same view for both); ``view_probs(epoch, images)`` gives its
    probabilities on them (a cache), else ``teacher.predict`` runs on them. ``fresh``: the student
    starts from its initial weights (:func:`edgekit.passes.training.settle_batchnorm`).
    """
    from edgekit.passes import augment as aug  # noqa: PLC0415
    from edgekit.passes.training import fit, logits_of  # noqa: PLC0415

    views = None
    if augment != "none":
        def label(epoch, images):
            if view_probs is not None:
                return view_probs(epoch, images)
            if teacher is None:
                raise ValueError("distilling with augmentation needs the teacher (or view_probs) to label the views")
            return teacher.predict(images, batch_size=512, verbose=0)

        views = np.stack([soften(label(e, aug.epoch_images(x, batch_size=batch_size, augment=augment, seed=seed,
                                                             epoch=e)), temperature) for e in range(epochs)])
        soft = np.zeros((len(x), 0), np.float32)   # the soft half comes with each batch
    else:
        if teacher_probs is None:
            teacher_probs = teacher.predict(x, batch_size=512, verbose=0)
        elif len(teacher_probs) != len(x):
            raise ValueError(f"teacher_probs has {len(teacher_probs)} rows for {len(x)} examples")
        soft = soften(teacher_probs, temperature)
    targets = np.concatenate([hard_targets(y, len(x), num_classes), soft], axis=1)

    student_logits = logits_of(student)
    if student_logits is None:
        raise ValueError("the student must end in a Softmax layer or a linear Dense layer")
    loss = kd_loss(num_classes, temperature, alpha if y is not None else 0.0)
    fit(student_logits, x, targets, epochs, batch_size=batch_size, learning_rate=learning_rate, progress=progress,
        augment=augment, schedule=schedule, seed=seed, loss=loss, soft_views=views,
        from_scratch=fresh)
    return student
