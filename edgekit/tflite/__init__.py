"""Reading and running .tflite files without TensorFlow.

``inspect``: describe a model (ops with versions, I/O, weight statistics) — the public API, built on
``model`` (the flatc-generated reader of the ``tflite`` package behind the bounds-checked table of
``flatbuf``, plus edgekit's one-line errors), ``names`` (schema enum names) and ``weights``.
``runner``: run tflite-runtime's Interpreter in a child process (predict, loadability check).
"""
