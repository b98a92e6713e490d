"""Knowledge distillation: a big teacher trains a small student.

Loss = alpha * CE(labels, student) + (1 - alpha) * T^2 * KL(teacher_T || student_T), where ``_T``
is the temperature-softened distribution. The teacher's softened targets come from its output
probabilities (p ** (1/T), renormalised — identical to softmax(logits / T)), so any classifier that
outputs probabilities can teach. With ``unlabelled`` the student sees only images the teacher
labelled (alpha is 0): a big model generating the training signal for a small one.
"""

from __future__ import annotations

import numpy as np

from edgekit.passes import keras_env


def soften(probs: np.ndarray, temperature: float) -> np.ndarray:
    logp = np.log(np.clip(probs.astype(np.float64), 1e-12, 1.0)) / temperature
    logp -= logp.max(axis=1, keepdims=True)
    p = np.exp(logp)
    return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)


def distill(teacher, student, x, y=None, *, num_classes: int, temperature: float = 4.0, alpha: float = 0.1,
            epochs: int = 6, batch_size: int = 128, learning_rate: float = 2e-3, progress=None,
            teacher_probs: np.ndarray | None = None):
    """Train ``student`` (in place, and returned) from ``teacher`` on ``x`` (labels ``y`` optional).

    The teacher runs once over ``x`` before training (its softened outputs are the targets); pass
    ``teacher_probs`` (its output probabilities on ``x``) to reuse them across students.
    """
    from edgekit.passes.training import logits_of  # noqa: PLC0415

    tf = keras_env.tf()
    keras = keras_env.keras()
    if y is None:
        alpha = 0.0
    if teacher_probs is None:
        teacher_probs = teacher.predict(x, batch_size=512, verbose=0)
    elif len(teacher_probs) != len(x):
        raise ValueError(f"teacher_probs has {len(teacher_probs)} rows for {len(x)} examples")
    soft = soften(teacher_probs, temperature)
    hard = np.zeros((len(x), num_classes), np.float32) if y is None else np.eye(num_classes, dtype=np.float32)[y]
    targets = np.concatenate([hard, soft], axis=1)

    student_logits = logits_of(student)
    if student_logits is None:
        raise ValueError("the student must end in a Softmax layer or a linear Dense layer")
    t = float(temperature)
    a = float(alpha)
    k = int(num_classes)

    def loss(y_true, logits):
        hard_t, soft_t = y_true[:, :k], y_true[:, k:]
        ce = tf.nn.softmax_cross_entropy_with_logits(hard_t, logits)
        log_student_t = tf.nn.log_softmax(logits / t)
        kl = tf.reduce_sum(soft_t * (tf.math.log(tf.clip_by_value(soft_t, 1e-12, 1.0)) - log_student_t), axis=1)
        return a * ce + (1.0 - a) * (t * t) * kl

    student_logits.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss)
    cbs = []
    if progress is not None:
        cbs.append(keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: progress(e + 1, epochs)))
    student_logits.fit(x, targets, epochs=epochs, batch_size=batch_size, verbose=0, shuffle=True, callbacks=cbs)
    return student
