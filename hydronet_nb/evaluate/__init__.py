"""What a model does: predictions (:mod:`~hydronet_nb.evaluate.predict`), error metrics per water
(:mod:`~hydronet_nb.evaluate.metrics`) and training speed, ``hydronet-nb bench`` (:mod:`~hydronet_nb.evaluate.bench`)."""
