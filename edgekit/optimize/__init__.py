"""The optimise stage: a model + data + recipe -> Variants (``.tflite`` + manifest + host evaluation).

Modules: ``recipe`` (parse and validate recipes), ``data`` (data sets: the Dataset record, Fashion-MNIST,
.npz, image folders, arrays), ``models`` (the built-in teacher and student, loading the user's model),
``plan`` (every check before training, what to rebuild), ``chain`` (runs the passes of
``edgekit.passes``, sharing prefixes and the teacher's outputs), ``writer`` (the Manifest, variant
folders written atomically), ``evaluate`` (host evaluation -> Evaluation), ``summary`` (what the
command prints), ``run`` (the entry point, :func:`edgekit.optimize.run.optimize`).

This package's ``__init__`` imports nothing heavy, so ``import edgekit.optimize.data`` needs no TensorFlow.
The package is callable: ``edgekit.optimize(...)`` is :func:`edgekit.optimize.run.optimize`
(see :mod:`edgekit.facade`).
"""

from edgekit.facade import callable_package

callable_package(__name__)
