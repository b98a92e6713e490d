"""Weight clustering (k shared values per kernel), optionally sparsity-preserving; stripped on return."""

from __future__ import annotations

from edgekit.passes import keras_env

INITS = {
    "kmeans++": "KMEANS_PLUS_PLUS",
    "linear": "LINEAR",
    "random": "RANDOM",
    "density": "DENSITY_BASED",
}


def cluster(model, x, y, *, clusters: int, init: str = "kmeans++", epochs: int = 1,
            preserve_sparsity: bool = False, batch_size: int = 128, learning_rate: float = 1e-4,
            progress=None):
    """Cluster Conv2D/Dense kernels into ``clusters`` centroids and fine-tune; returns a stripped model."""
    from edgekit.passes.training import clone, fit  # noqa: PLC0415

    tfmot = keras_env.tfmot()
    ck = tfmot.clustering.keras
    centroid_init = getattr(ck.CentroidInitialization, INITS[init])
    kwargs = {"preserve_sparsity": True} if preserve_sparsity else {}
    wrapped = ck.cluster_weights(clone(model), number_of_clusters=int(clusters),
                                 cluster_centroids_init=centroid_init, **kwargs)
    if wrapped is None:  # tfmot returns None for Keras 3 models
        raise ValueError("cluster_weights returned None (not a tf-keras model?)")
    if epochs > 0:
        fit(wrapped, x, y, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, progress=progress)
    return ck.strip_clustering(wrapped)
