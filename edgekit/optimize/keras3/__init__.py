"""The Keras 3 bridge: a Keras 3 model file rebuilt as a tf-keras model (config translated, weights
copied, outputs checked equal), so that tfmot's training passes work on it.

Modules: ``child`` (the Keras 3 side, a script run in a child process), ``translate`` (Keras 3
config -> tf-keras config, pure data), ``bridge`` (the entry point: :func:`bridge.rebuild`). See
docs/keras3.md. Importing this package imports neither Keras.
"""
