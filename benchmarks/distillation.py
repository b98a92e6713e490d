"""Distillation benchmark (issue 14): does the distilled student beat the same student from scratch?

    .venv/bin/python benchmarks/distillation.py                 # both scenarios, seeds 0 1 2 (~40 min)
    .venv/bin/python benchmarks/distillation.py --quick         # seed 0, 15,000 training images, a few minutes
    .venv/bin/python benchmarks/distillation.py --scenario full --seeds 0 --temperature 2   # one experiment

Fashion-MNIST (Debian's dataset-fashion-mnist), the full test set. Two scenarios, each per seed:

* **full labels**: the teacher (the built-in CNN trained on every labelled image: the shipped one,
  seed 0, for every seed — the huge model of the story is a given; ``--teacher-per-seed`` trains one
  per seed; ``--teachers N`` averages N built-in teachers of seeds 0 … N-1, an ensemble), the built-in student (width 32 as in the default recipe: ``--width``) trained from scratch on the labels, and the same student distilled
  from the teacher (hard + soft targets);
* **few labels** (the story): the same teacher stands for the huge model; the user has ``--labels``
  labelled images (1,000; a class-balanced draw) and the rest unlabelled. The student from scratch on
  the labelled few, against the student distilled on the few (hard + soft) plus the teacher-labelled
  rest (soft only).

Scratch and distilled students train with the same epochs, learning rate, schedule and augmentation
(the scratch student on the few labels runs the same number of *steps* as on all of them: an epoch of
1,000 images is 8 batches). Every accuracy is that of the exported .tflite in tflite-runtime (child
process): float32, and full int8 (PTQ, 256 calibration images). Teachers are cached under
``${EDGEKIT_CACHE:-~/.cache/edgekit}/bench-teachers/`` by everything that made them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from edgekit.cache import cache_dir  # noqa: E402
from edgekit.optimize import models  # noqa: E402
from edgekit.optimize.data import load_fashion_mnist  # noqa: E402
from edgekit.optimize.evaluate import evaluate  # noqa: E402
from edgekit.passes import PASSES, augment, distillation, training  # noqa: E402
from edgekit.passes.quantization import convert, representative_data  # noqa: E402

D = {name: p.default for name, p in PASSES["distill"].params.items()}   # the recipe's distill() defaults


def accuracy(model, ds, mode: str, seed: int) -> float:
    rep = representative_data(ds.x_train, 256, seed) if mode == "int8" else None
    with tempfile.TemporaryDirectory() as td:
        path = Path(td) / "m.tflite"
        path.write_bytes(convert(model, mode=mode, representative=rep))
        result, _ = evaluate(path, ds)
    return result.accuracy


def teacher_for(ds, seed: int, args, console) -> object:
    """The built-in teacher trained on every labelled image, as ``edgekit optimize`` trains it (seed 0
    with the defaults on all of Fashion-MNIST: the shipped one); cached by everything that made it."""
    from edgekit.optimize import pretrained

    arch = {"width": args.teacher_width, "batchnorm": not args.teacher_plain}
    train = {**models.TEACHER_TRAINING, "learning_rate": args.teacher_lr, "schedule": args.teacher_schedule,
             "augment": args.teacher_augment}
    training.set_seed(seed)
    teacher = models.build_teacher(ds.input_shape, ds.num_classes, **arch)
    key = pretrained.teacher_key(teacher, ds, epochs=args.teacher_epochs, seed=seed, training=train)
    if args.teacher_weights:
        teacher.load_weights(args.teacher_weights)
        return teacher
    if pretrained.load_if_matching(teacher, key) is not None:
        console.print("  teacher: the shipped built-in teacher (edgekit/optimize/pretrained)")
        return teacher
    path = cache_dir() / "bench-teachers" / f"{key[:16]}.h5"
    if path.exists():
        teacher.load_weights(str(path))
        return teacher
    t0 = time.monotonic()
    models.train_teacher(teacher, ds, epochs=args.teacher_epochs, seed=seed, training_settings=train)
    console.print(f"  teacher trained in {time.monotonic() - t0:.0f} s")
    models.save_weights(teacher, path)
    return teacher


def ensemble(teachers):
    """One model whose output is the mean of the ``teachers``' probabilities (a teacher ensemble)."""
    from edgekit.passes import keras_env

    if len(teachers) == 1:
        return teachers[0]
    keras = keras_env.keras()
    for i, t in enumerate(teachers):
        t._name = f"teacher_{i}"
    inputs = keras.layers.Input(teachers[0].input_shape[1:], name="image")
    outputs = keras.layers.Average(name="probs")([t(inputs) for t in teachers])
    return keras.Model(inputs, outputs, name="teacher_ensemble")


def teacher_features(teacher, x) -> np.ndarray:
    """The teacher's penultimate features (``fc1``, 192 for the built-in teacher), standardised per unit."""
    from edgekit.passes import keras_env

    f = keras_env.keras().Model(teacher.input, teacher.get_layer("fc1").output).predict(x, batch_size=512, verbose=0)
    return ((f - f.mean(0)) / (f.std(0) + 1e-3)).astype(np.float32)


def distill_hinted(student_model, x, y, probs, features, args, seed: int):
    """``distillation.distill``'s loss (hard + soft at T, weighted by alpha) plus ``args.hint`` × the squared error
    between a linear connector on the student's pooled features and the teacher's standardised ``fc1``
    (FitNets' hint on the penultimate layer); the same ``training.fit``, schedule and seed. Experiments only."""
    from edgekit.passes import keras_env

    keras, tf = keras_env.keras(), keras_env.tf()
    k = probs.shape[1]
    targets = np.concatenate([distillation.hard_targets(y, len(x), k), distillation.soften(probs, args.temperature),
                              features], axis=1)
    connector = keras.layers.Dense(features.shape[1], name="hint_connector")(student_model.get_layer("gap").output)
    both = keras.Model(student_model.input,
                       keras.layers.Concatenate()([student_model.get_layer("logits").output, connector]))
    kd, w = distillation.kd_loss(k, args.temperature, args.alpha), float(args.hint)

    def loss(y_true, out):
        return kd(y_true, out[:, :k]) + w * tf.reduce_mean(tf.square(out[:, k:] - y_true[:, 2 * k:]), axis=1)

    training.fit(both, x, targets, args.epochs, learning_rate=args.learning_rate, schedule=args.schedule, seed=seed,
                 loss=loss, from_scratch=True)
    return student_model


def student(ds, args):
    return models.build_student(ds.input_shape, ds.num_classes, width=args.width, block=args.block)


def few_labels(ds, n: int, seed: int) -> np.ndarray:
    """Indices of ``n`` labelled images, the same number of each class (seeded)."""
    rng = np.random.default_rng(seed + 1000)
    per = n // ds.num_classes
    return np.sort(np.concatenate([rng.choice(np.flatnonzero(ds.y_train == c), per, replace=False)
                                   for c in range(ds.num_classes)]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--quick", action="store_true", help="seed 0 on 15,000 training images (a few minutes)")
    ap.add_argument("--scenario", choices=("full", "few", "both"), default="both")
    ap.add_argument("--labels", type=int, default=1000, help="labelled images in the few-labels scenario")
    ap.add_argument("--epochs", type=int, default=D["epochs"], help="student epochs (scratch and distilled)")
    ap.add_argument("--learning-rate", type=float, default=D["learning_rate"])
    ap.add_argument("--schedule", choices=augment.SCHEDULES, default=D["schedule"])
    ap.add_argument("--augment", choices=augment.AUGMENTS, default=D["augment"])
    ap.add_argument("--temperature", type=float, default=D["temperature"])
    ap.add_argument("--alpha", type=float, default=D["alpha"])
    ap.add_argument("--width", type=int, default=32,
                    help="the student's width (32: the default recipe's students; the family's own default is 16)")
    ap.add_argument("--block", default=None)
    ap.add_argument("--teacher-epochs", type=int, default=models.DEFAULT_TEACHER_EPOCHS)
    ap.add_argument("--teacher-per-seed", action="store_true",
                    help="train a teacher per seed (default: the seed-0 teacher, the shipped one, for every seed)")
    ap.add_argument("--teachers", type=int, default=1,
                    help="an ensemble of this many built-in teachers, their probabilities averaged (seeds 0, 1, …; with --teacher-per-seed from the run's seed on)")
    ap.add_argument("--teacher-weights", help="the teacher's weights from this .h5 (experiments: one teacher for all)")
    ap.add_argument("--teacher-width", type=int, default=48)
    ap.add_argument("--teacher-plain", action="store_true", help="no BatchNorm in the teacher (the old teacher)")
    ap.add_argument("--teacher-lr", type=float, default=models.TEACHER_TRAINING["learning_rate"])
    ap.add_argument("--teacher-schedule", choices=augment.SCHEDULES, default=models.TEACHER_TRAINING["schedule"])
    ap.add_argument("--teacher-augment", choices=augment.AUGMENTS, default=models.TEACHER_TRAINING["augment"])
    ap.add_argument("--hint", type=float, default=0.0,
                    help="weight of a hint: the student's pooled features, through a linear connector, match the "
                         "teacher's standardised fc1 (0: none; experiments, the built-in teacher, no augmentation)")
    ap.add_argument("--no-int8", action="store_true", help="skip the int8 exports (experiments)")
    ap.add_argument("--no-scratch", action="store_true", help="skip the scratch students (experiments on distillation only)")
    args = ap.parse_args()
    if args.hint and (args.teachers > 1 or args.augment != "none" or args.block not in (None, "separable")):
        ap.error("--hint needs one built-in teacher, the separable student and --augment none")
    console = Console(width=140)
    ds = load_fashion_mnist()
    if args.quick:
        args.seeds = [0]
        keep = np.random.default_rng(0).permutation(len(ds.x_train))[:15000]
        ds.x_train, ds.y_train = ds.x_train[np.sort(keep)], ds.y_train[np.sort(keep)]
    modes = ["float32"] if args.no_int8 else ["float32", "int8"]
    rows: dict[tuple[str, str], dict[str, list[float]]] = {}
    params: dict[str, int] = {}
    kw = dict(learning_rate=args.learning_rate, schedule=args.schedule, augment=args.augment)

    def record(scenario, name, model, seed):
        accs = rows.setdefault((scenario, name), {m: [] for m in modes})
        for m in modes:
            accs[m].append(accuracy(model, ds, m, seed))
        params[name] = model.count_params()
        console.print(f"  {scenario:5} {name:38} " + "  ".join(f"{m} {100 * accs[m][-1]:.2f}%" for m in modes))

    t_start = time.monotonic()
    for seed in args.seeds:
        console.print(f"seed {seed}:")
        first = seed if args.teacher_per_seed else 0
        teacher = ensemble([teacher_for(ds, first + i, args, console) for i in range(args.teachers)])
        probs = teacher.predict(ds.x_train, batch_size=512, verbose=0)
        features = teacher_features(teacher, ds.x_train) if args.hint else None

        def distilled(y):
            """The student distilled on every training image (labels ``y``, -1: none), with the hint if asked."""
            training.set_seed(seed)
            if args.hint:
                return distill_hinted(student(ds, args), ds.x_train, y, probs, features, args, seed)
            return distillation.distill(teacher, student(ds, args), ds.x_train, y, num_classes=ds.num_classes,
                                        temperature=args.temperature, alpha=args.alpha, epochs=args.epochs,
                                        teacher_probs=probs, seed=seed, **kw)

        if args.scenario in ("full", "both"):
            record("full", "teacher", teacher, seed)
            if not args.no_scratch:
                training.set_seed(seed)
                s = student(ds, args)
                training.fit(s, ds.x_train, ds.y_train, args.epochs, seed=seed, from_scratch=True, **kw)
                record("full", "student, scratch", s, seed)
            record("full", "student, distilled", distilled(ds.y_train), seed)
        if args.scenario in ("few", "both"):
            few = few_labels(ds, args.labels, seed)
            epochs_few = max(1, round(args.epochs * len(ds.x_train) / len(few)))
            if not args.no_scratch:
                training.set_seed(seed)
                s = student(ds, args)
                training.fit(s, ds.x_train[few], ds.y_train[few], epochs_few, seed=seed, from_scratch=True, **kw)
                record("few", f"student, scratch on {len(few):,} labels", s, seed)
            y = np.full(len(ds.y_train), -1, np.int64)
            y[few] = ds.y_train[few]
            record("few", f"student, distilled: {len(few):,} + {len(ds.x_train) - len(few):,} unlabelled",
                   distilled(y), seed)

    settings = (f"student: width {args.width}, {args.epochs} epochs, lr {args.learning_rate:g} {args.schedule}, augment {args.augment}, "
                f"T={args.temperature:g}, alpha={args.alpha:g}{f', hint {args.hint:g}' if args.hint else ''}; "
                f"{f'{args.teachers} teachers averaged' if args.teachers > 1 else 'teacher'}"
                f"{' (no BatchNorm)' if args.teacher_plain else ''}: "
                f"{args.teacher_epochs} epochs, lr "
                f"{args.teacher_lr:g} {args.teacher_schedule}, augment {args.teacher_augment}; "
                f"{len(ds.x_train):,} training images")
    table = Table(title=f"distillation on Fashion-MNIST — mean ± std over seeds {args.seeds}\n{settings}")
    for col in ("scenario", "model", "parameters", *(f"{m} accuracy" for m in modes), "int8 − float32",
                "float32 per seed"):
        table.add_column(col, justify="left" if col in ("scenario", "model") else "right")

    def ms(v):
        return f"{100 * statistics.mean(v):.2f} ± {100 * (statistics.stdev(v) if len(v) > 1 else 0.0):.2f}%"

    for (scenario, name), accs in rows.items():
        gap = (f"{100 * (statistics.mean(accs['int8']) - statistics.mean(accs['float32'])):+.2f} pt"
               if "int8" in accs else "")
        table.add_row(scenario, name, f"{params[name]:,}", *(ms(accs[m]) for m in modes), gap,
                      " ".join(f"{100 * a:.2f}" for a in accs["float32"]))
    console.print(table)

    def mean(scenario, prefix):
        return next(100 * statistics.mean(a["float32"]) for (s, n), a in rows.items() if s == scenario and n.startswith(prefix))

    if args.scenario in ("full", "both") and not args.no_scratch:
        ratio = params["student, scratch"] / params["teacher"]
        gain = mean("full", "student, distilled") - mean("full", "student, scratch")
        console.print(f"full labels: distilled − scratch = {gain:+.2f} pt (target ≥ +0.50); student/teacher "
                      f"parameters {ratio:.3f} ({'≤' if ratio <= 0.2 else '>'} 1/5)")
        if args.scenario == "both":
            few_d = mean("few", "student, distilled")
            console.print(f"few labels: distilled − scratch on all labels = {few_d - mean('full', 'student, scratch'):+.2f} pt "
                          f"(target ≥ 0); distilled − scratch on {args.labels:,} = "
                          f"{few_d - mean('few', 'student, scratch'):+.2f} pt (target ≥ +10)")
    console.print(f"took {time.monotonic() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
