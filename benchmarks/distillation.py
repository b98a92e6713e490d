"""Distillation benchmark: teacher, student from scratch and distilled student over 3 seeds.

    .venv/bin/python benchmarks/distillation.py [--seeds 0 1 2] [--epochs 6]

Fashion-MNIST (Debian's dataset-fashion-mnist), full training and test sets. The student is the
built-in MobileNet-style architecture; the teacher is the built-in CNN. Accuracy is measured on the
float32 .tflite exports in tflite-runtime (child process), like every edgekit variant.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgekit.optimize import models  # noqa: E402
from edgekit.optimize.data import load_fashion_mnist  # noqa: E402
from edgekit.optimize.evaluate import evaluate  # noqa: E402
from edgekit.passes import distillation, training  # noqa: E402
from edgekit.passes.quantization import convert  # noqa: E402


def tflite_accuracy(model, ds) -> float:
    with tempfile.TemporaryDirectory() as td:
        path = Path(td) / "m.tflite"
        path.write_bytes(convert(model, mode="float32"))
        result, _ = evaluate(path, ds)
    return result.accuracy


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=6, help="student epochs (scratch and distilled)")
    ap.add_argument("--teacher-epochs", type=int, default=models.DEFAULT_TEACHER_EPOCHS)
    ap.add_argument("--temperature", type=float, default=4.0)
    ap.add_argument("--alpha", type=float, default=0.1)
    args = ap.parse_args()
    console = Console(width=120)
    ds = load_fashion_mnist()
    rows: dict[str, list[float]] = {"teacher": [], "student (scratch)": [], "student (distilled)": [],
                                    "student (distilled, unlabelled)": []}
    params = {}
    for seed in args.seeds:
        console.print(f"seed {seed}: training teacher, scratch student, distilled students…")
        training.set_seed(seed)
        teacher = models.build_teacher(ds.input_shape, ds.num_classes)
        models.train_teacher(teacher, ds, epochs=args.teacher_epochs, seed=seed)
        rows["teacher"].append(tflite_accuracy(teacher, ds))
        params["teacher"] = teacher.count_params()

        training.set_seed(seed)
        scratch = models.build_student(ds.input_shape, ds.num_classes)
        training.fit(scratch, ds.x_train, ds.y_train, epochs=args.epochs, learning_rate=2e-3)
        rows["student (scratch)"].append(tflite_accuracy(scratch, ds))
        params["student"] = scratch.count_params()

        training.set_seed(seed)
        student = distillation.distill(teacher, models.build_student(ds.input_shape, ds.num_classes), ds.x_train,
                                       ds.y_train, num_classes=ds.num_classes, temperature=args.temperature,
                                       alpha=args.alpha, epochs=args.epochs)
        rows["student (distilled)"].append(tflite_accuracy(student, ds))

        training.set_seed(seed)
        unl = distillation.distill(teacher, models.build_student(ds.input_shape, ds.num_classes), ds.x_train, None,
                                   num_classes=ds.num_classes, temperature=args.temperature, epochs=args.epochs)
        rows["student (distilled, unlabelled)"].append(tflite_accuracy(unl, ds))

    table = Table(title=f"distillation on Fashion-MNIST — mean ± std over seeds {args.seeds}")
    for col in ("model", "parameters", "accuracy", "per seed"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for name, accs in rows.items():
        p = params["teacher" if name == "teacher" else "student"]
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        table.add_row(name, f"{p:,}", f"{100 * statistics.mean(accs):.2f} ± {100 * std:.2f}%",
                      " ".join(f"{100 * a:.2f}" for a in accs))
    console.print(table)
    ratio = params["student"] / params["teacher"]
    console.print(f"student/teacher parameters: {ratio:.3f} ({'≤' if ratio <= 0.2 else '>'} 1/5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
