"""Training-time augmentation, the cosine schedule, and distillation on labelled + unlabelled images
together (issue 14 item 3): behaviour on tiny arrays, no timing."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.passes import augment


def test_shift_moves_each_image_by_at_most_the_shift_and_keeps_its_pixels():
    rng = np.random.default_rng(0)
    x = np.zeros((64, 12, 12, 1), np.float32)
    x[:, 5, 6, 0] = 1.0                                  # one bright pixel per image
    out = augment.shift_flip(x, rng, flip=False)
    assert out.shape == x.shape and out.dtype == x.dtype
    ys, xs = np.nonzero(out[..., 0].reshape(64, -1) > 0)[1] // 12, np.nonzero(out[..., 0].reshape(64, -1) > 0)[1] % 12
    assert len(ys) == 64                                 # still one bright pixel in each image
    assert np.all(np.abs(ys - 5) <= augment.SHIFT) and np.all(np.abs(xs - 6) <= augment.SHIFT)
    assert len(set(zip(ys.tolist(), xs.tolist()))) > 5   # and images moved differently


def test_edges_are_repeated_so_any_input_range_keeps_its_background():
    x = np.full((8, 10, 10, 3), -1.0, np.float32)        # a [-1, 1] image of background only
    out = augment.shift_flip(x, np.random.default_rng(1), flip=True)
    assert np.all(out == -1.0)


def test_flip_mirrors_about_half_the_images():
    x = np.zeros((400, 6, 6, 1), np.float32)
    x[:, :, 0, 0] = 1.0                                  # the left column lit
    out = augment.shift_flip(x, np.random.default_rng(2), flip=True, shift=0)
    mirrored = out[:, :, 5, 0].all(axis=1)
    assert np.array_equal(out[~mirrored], x[~mirrored])
    assert 150 < mirrored.sum() < 250


def test_batches_are_the_same_for_the_same_seed_and_cover_every_image_once_per_epoch():
    x = np.arange(50 * 4 * 4, dtype=np.float32).reshape(50, 4, 4, 1)
    y = np.arange(50)
    a = augment.batches(x, y, batch_size=8, augment="shift", seed=3)
    b = augment.batches(x, y, batch_size=8, augment="shift", seed=3)
    assert len(a) == 7
    first = [a[i] for i in range(len(a))]
    assert all(np.array_equal(p[0], q[0]) and np.array_equal(p[1], q[1]) for p, q in zip(first, [b[i] for i in range(7)]))
    assert sorted(np.concatenate([yb for _, yb in first]).tolist()) == list(range(50))
    a.on_epoch_end()
    assert not np.array_equal(a[0][1], first[0][1])        # a new order next epoch


def test_cosine_schedule_warms_up_then_decays_to_zero():
    rate = augment.learning_rate(0.01, "cosine", steps=100)
    values = [float(rate(s)) for s in (0, 5, 50, 100)]
    assert values[0] == pytest.approx(0.001)
    assert values[1] == pytest.approx(0.01)
    assert values[1] > values[2] > values[3]
    assert values[3] == pytest.approx(0.0, abs=1e-6)
    assert augment.learning_rate(0.01, "constant", steps=100) == 0.01
    with pytest.raises(ValueError, match="schedule"):
        augment.learning_rate(0.01, "linear", steps=10)


def _teacher_and_data(n=256, k=3):
    from edgekit.passes import keras_env

    keras = keras_env.keras()
    rng = np.random.default_rng(0)
    y = rng.integers(0, k, n)
    x = rng.normal(0, 0.3, (n, 6, 6, 1)).astype(np.float32)
    x[np.arange(n), y, y, 0] += 3.0                      # class c lights pixel (c, c)
    inputs = keras.Input((6, 6, 1))
    h = keras.layers.Flatten()(inputs)
    logits = keras.layers.Dense(k)(h)
    student = keras.Model(inputs, keras.layers.Softmax()(logits))
    return x, y, student


def test_a_label_of_minus_one_trains_on_the_soft_target_alone():
    """Images without a label follow the teacher; the labelled ones follow both."""
    from edgekit.passes import distillation, training

    training.set_seed(0)
    x, y, student = _teacher_and_data()
    wrong = (y + 1) % 3                                  # a teacher that is confidently wrong everywhere
    probs = np.eye(3, dtype=np.float32)[wrong] * 0.98 + 0.01
    no_labels = np.full_like(y, -1)
    distillation.distill(None, student, x, no_labels, num_classes=3, temperature=1.0, alpha=0.9, epochs=30,
                         batch_size=32, learning_rate=0.05, teacher_probs=probs, schedule="cosine", augment="none")
    pred = student.predict(x, verbose=0).argmax(1)
    assert (pred == wrong).mean() > 0.9                  # no label anywhere: the teacher's (wrong) answers


def test_where_labels_exist_the_hard_term_counts():
    from edgekit.passes import distillation, training

    training.set_seed(0)
    x, y, student = _teacher_and_data()
    probs = np.full((len(x), 3), 1 / 3, np.float32)      # a teacher that knows nothing
    distillation.distill(None, student, x, y, num_classes=3, temperature=1.0, alpha=0.9, epochs=30, batch_size=32,
                         learning_rate=0.05, teacher_probs=probs)
    assert (student.predict(x, verbose=0).argmax(1) == y).mean() > 0.9


def test_the_distill_pass_takes_schedule_and_augment_and_refuses_others():
    from edgekit.optimize.recipe import RecipeError, parse

    recipe = parse('[[variant]]\nname = "s"\nchain = ["distill(schedule=\'cosine\', augment=\'shift-flip\')"]\n')
    (step,) = recipe.variants[0].chain
    assert step.params["schedule"] == "cosine" and step.params["augment"] == "shift-flip"
    with pytest.raises(RecipeError) as exc:
        parse('[[variant]]\nname = "s"\nchain = ["distill(augment=\'rotate\')"]\n', "r.toml")
    assert "parameter 'augment': 'rotate' is not one of none, shift, shift-flip" in exc.value.message


def test_with_augmentation_the_teacher_labels_the_very_images_the_student_sees():
    """A consistent teacher: each epoch's augmented images go to view_probs once, and those are the
    images the batches hand out (not the originals)."""
    from edgekit.passes import distillation, training

    training.set_seed(0)
    x, y, student = _teacher_and_data(n=96)
    seen = []

    def view_probs(epoch, images):
        seen.append((epoch, images.copy()))
        return np.eye(3, dtype=np.float32)[y[:len(images)]] * 0.9 + 0.1 / 3

    distillation.distill(None, student, x, y, num_classes=3, epochs=3, batch_size=32, augment="shift",
                         view_probs=view_probs, seed=5)
    assert [e for e, _ in seen] == [0, 1, 2]
    for epoch, images in seen:
        expected = augment.epoch_images(x, batch_size=32, augment="shift", seed=5, epoch=epoch)
        assert np.array_equal(images, expected)
    assert not np.array_equal(np.sort(seen[0][1], axis=0), np.sort(x, axis=0))   # augmented, not the originals
    with pytest.raises(ValueError, match="needs the teacher"):
        distillation.distill(None, student, x, y, num_classes=3, epochs=1, augment="shift")


def test_batchnorm_of_a_short_run_from_scratch_settles_and_long_runs_are_left_alone():
    """A teacher trained 15 epochs on 800 images is 105 steps: at Keras's momentum 0.99 its moving
    averages are still far from the data and inference is at chance. from_scratch caps the momentum."""
    from edgekit.optimize import models
    from edgekit.passes import training

    short = models.build_teacher((28, 28, 1), 10)
    training.settle_batchnorm(short, 105)
    long = models.build_teacher((28, 28, 1), 10)
    training.settle_batchnorm(long, 7035)          # 15 epochs of 60,000 images
    bn = [lyr for lyr in short.layers if "BatchNormalization" in type(lyr).__name__]
    assert bn and all(lyr.momentum == pytest.approx(1 - 10 / 105) for lyr in bn)
    assert all(lyr.momentum == 0.99 for lyr in long.layers if "BatchNormalization" in type(lyr).__name__)
