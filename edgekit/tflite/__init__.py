"""Reading and running .tflite files without TensorFlow.

``inspect``: parse the flatbuffer (ops with versions, I/O, weight statistics) in pure Python.
``runner``: run tflite-runtime's Interpreter in a child process (predict, loadability check).
"""
