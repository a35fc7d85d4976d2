"""Training: one trainer for pretraining and finetuning, with its parts apart.

* :mod:`~hydronet_nb.train.config` -- :class:`TrainConfig` (the paper's recipe) and seeding;
* :mod:`~hydronet_nb.train.packing` -- the bin-packing algorithm (which clusters share a pack);
* :mod:`~hydronet_nb.train.packs` -- pack tensors, the packed kNN graph, packed energies;
* :mod:`~hydronet_nb.train.batching` -- batches of whole clusters and the batch plan of an epoch;
* :mod:`~hydronet_nb.train.losses` -- ``c MSE(E) + (1 - c) MSE(F)`` on clusters and on packs;
* :mod:`~hydronet_nb.train.backends` -- plain PyTorch, ``DistributedDataParallel``, PopTorch;
* :mod:`~hydronet_nb.train.ipu` -- IPU settings and the loss module PopTorch wraps;
* :mod:`~hydronet_nb.train.checkpoints` -- atomic, resumable checkpoints, refused on other settings or data;
* :mod:`~hydronet_nb.train.trainer` -- :class:`Trainer` (``set_train`` and ``warm_start`` for active sampling);
* :mod:`~hydronet_nb.train.pretrain` -- ``hydronet-nb pretrain``; :mod:`~hydronet_nb.train.export` -- ``--export``.
"""
