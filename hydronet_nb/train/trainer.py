"""The one trainer of the book: pretraining on minima, finetuning on forces or on another potential.

:class:`Trainer` minimizes ``c * MSE(E) + (1 - c) * MSE(F)`` (:mod:`hydronet_nb.train.losses`; ``c = 1``
for pretraining) with the paper's recipe: Adam, ReduceLROnPlateau on the validation loss, the
element-wise gradient clamp, optional early stopping. It writes, into its output folder,

* ``metrics.jsonl`` -- one JSON line per epoch (``pandas.read_json(path, lines=True)``);
* ``last.pt`` -- everything needed to continue exactly (weights, optimizer, scheduler, random
  states, epoch, metrics, config with the data's fingerprint), replaced atomically every epoch;
  :meth:`Trainer.fit` resumes from it, and refuses to when the settings or the data changed;
* ``best.pt`` -- the weights of the epoch with the lowest validation loss (``hydronet-nb predict
  --model best.pt`` reads it).

Its parts live apart: the batch plan (:mod:`~hydronet_nb.train.batching`: whole clusters or packs),
the backend (:mod:`~hydronet_nb.train.backends`: plain, ``DistributedDataParallel``, IPU) and the
checkpoints (:mod:`~hydronet_nb.train.checkpoints`). Data are
:class:`~hydronet_nb.data.clusters.ClusterSet` objects (or lists of clusters). For active sampling,
:meth:`Trainer.set_train` swaps in a new training set between rounds and :meth:`Trainer.warm_start`
starts from given weights; ``fit(epochs=...)`` then continues to a new epoch count.
"""
from __future__ import annotations

import json
import math
import time
from functools import partial
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..data.clusters import ClusterSet
from ..device import DeviceChoice, select_device
from ..errors import TrainingDiverged
from ..model.weights import load_weights, read_state_dict
from ..utils.files import atomic_write_text
from .backends import make_backend
from .batching import BatchPlan, Step
from .checkpoints import BEST, LAST, LOG, load_checkpoint, resume_problems, rng_state, save_checkpoint, set_rng_state
from .config import TrainConfig
from .losses import ClusterLoss, PackLoss


class Trainer:
    """Train ``model`` on ``train`` and validate on ``val`` (ClusterSets or lists of clusters).

    ``out_dir`` receives the log and checkpoints; an existing ``last.pt`` there is resumed by the
    first :meth:`fit`. ``model_config`` (a plain dict, e.g. :class:`~hydronet_nb.model.schnet.SchNetConfig`
    as a dict) is stored in the checkpoints. ``callbacks`` are called as ``callback(trainer, metrics)``
    after each epoch's checkpoint is written. Data parallelism is on when ``torch.distributed`` is initialized.
    """

    def __init__(self, model: torch.nn.Module, train, val, config: TrainConfig, out_dir: str | Path, *,
                 model_config: dict | None = None, device: DeviceChoice | None = None, callbacks: Sequence[Callable] = ()):
        self.config, self.out_dir = config, Path(out_dir)
        self.model_config = dict(model_config or {})
        self.callbacks = list(callbacks)
        self.device = device or select_device(config.device)
        if config.deterministic:
            torch.use_deterministic_algorithms(True)
        train = self._checked(train, "training set")
        self.val = self._checked(val, "validation set")
        self.model = model.to(self.device.torch_device)
        self.backend = make_backend(self.model, self.device, config)
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, mode="min", factor=config.lr_factor, patience=config.lr_patience, min_lr=config.min_lr)
        self.data_generator = torch.Generator().manual_seed(config.seed)
        self.history: list[dict] = []
        self.best_val, self.bad_epochs, self.stopped = math.inf, 0, False
        self.epoch = 0  # epochs completed
        self._resumed = False
        self.set_train(train)

    # --- the parts ------------------------------------------------------------------------------

    @property
    def optimizer(self):
        return self.backend.optimizer

    @property
    def rank(self) -> int:
        return self.backend.rank

    @property
    def world(self) -> int:
        return self.backend.world

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def _checked(self, clusters, what: str) -> ClusterSet:
        data = ClusterSet.from_clusters(clusters, name=what)
        return data.require(forces=self.config.with_forces, what=what)

    def set_train(self, clusters) -> None:
        """Train on ``clusters`` from now on (a new round of active sampling): new batch plan, same weights and optimizer.

        Early stopping starts counting afresh; the next checkpoint records the new set's fingerprint.
        """
        self.train = self._checked(clusters, "training set")
        self.train_plan = BatchPlan(self.train, self.config)
        self.val_plan = BatchPlan(self.val, self.config, slots=self.train_plan.slots)
        if self.config.packed:
            self.loss_module = PackLoss(self.model, self.config.energy_weight, self.config.pack_atoms, self.train_plan.slots)
        else:
            self.loss_module = ClusterLoss(self.model, self.config.energy_weight, self.config.create_graph)
        self.backend.set_loss(self.loss_module)
        self.fingerprints = {"train": self.train.fingerprint(), "val": self.val.fingerprint()}
        self.bad_epochs, self.stopped = 0, False

    def warm_start(self, weights) -> None:
        """Start from ``weights``: a state_dict, a module, or a file (state_dict or training checkpoint).

        Only the weights are taken (optimizer and epochs stay); a ``last.pt`` in ``out_dir`` still wins at the first :meth:`fit`.
        """
        if isinstance(weights, torch.nn.Module):
            weights = weights.state_dict()
        elif isinstance(weights, (str, Path)):
            weights = read_state_dict(weights)
        load_weights(self.model, weights)
        self.backend.to_device()

    # --- passes ---------------------------------------------------------------------------------

    def _loader(self, plan: BatchPlan, training: bool) -> DataLoader:
        batches = plan.batches(self.data_generator if training else None, world=self.world,
                               packs_per_call=self.backend.packs_per_call(training))
        return DataLoader(batches, batch_size=None, shuffle=False, num_workers=self.config.num_workers,
                          collate_fn=partial(plan.collate, rank=self.rank, world=self.world))

    @staticmethod
    def _sums(out, step: Step) -> torch.Tensor:
        """``[SSE_E, sum |dE|/water, SSE_F, clusters, atoms]`` of one step, as a float64 tensor."""
        return torch.tensor([float(t.sum()) for t in out[1:]] + [step.batch.n_clusters, step.batch.n_atoms],
                            dtype=torch.float64)

    def _reduce(self, sums: torch.Tensor) -> dict:
        sse_e, sae_w, sse_f, n_clusters, n_atoms = self.backend.reduce(sums).tolist()
        c = self.config.energy_weight
        energy_mse = sse_e / max(n_clusters, 1)
        force_mse = sse_f / max(3 * n_atoms, 1)
        return {"loss": c * energy_mse + (1 - c) * force_mse, "energy_mse": energy_mse,
                "force_mse": force_mse if c < 1 else None, "mae_per_water": sae_w / max(n_clusters, 1),
                "clusters": int(n_clusters)}

    def train_epoch(self) -> dict:
        """One pass over the training set; returns its loss terms and speed."""
        self.loss_module.train()
        sums = torch.zeros(5, dtype=torch.float64)
        start = time.perf_counter()
        bar = tqdm(self._loader(self.train_plan, training=True), desc=f"epoch {self.epoch + 1}/{self.config.epochs}",
                   leave=False, disable=not (self.config.progress and self.is_main))
        for k, step in enumerate(bar):
            out = self.backend.train_step(step)
            loss = float(out[0].detach())
            if not math.isfinite(loss):
                last = self.out_dir / LAST
                kept = (f"{last} (after epoch {self.epoch}) is kept" if last.is_file()
                        else "no checkpoint was written yet")
                raise TrainingDiverged(f"{self.out_dir}: the training loss became {loss} at epoch "
                                       f"{self.epoch + 1}, step {k + 1}; stopped, {kept}. Lower training.lr or "
                                       "check the data for outliers.")
            step_sums = self._sums(out, step)
            sums += step_sums
            bar.set_postfix(energy_mse=f"{step_sums[0] / max(step_sums[3], 1):.4g}")
        out = self._reduce(sums)
        out["seconds"] = time.perf_counter() - start
        return out

    def evaluate(self, clusters=None) -> dict:
        """Loss, energy MSE, force MSE and MAE per water on ``clusters`` (default: the validation set)."""
        plan = self.val_plan if clusters is None else BatchPlan(self._checked(clusters, "evaluation set"), self.config,
                                                               slots=self.train_plan.slots)
        self.loss_module.eval()
        sums = torch.zeros(5, dtype=torch.float64)
        with torch.no_grad():
            for step in self._loader(plan, training=False):
                if step is not None:
                    sums += self._sums(self.backend.eval_step(step), step)
        return self._reduce(sums)

    # --- checkpoints ----------------------------------------------------------------------------

    def _config_dict(self) -> dict:
        return {"training": self.config.as_dict(), "model": self.model_config, "data": self.fingerprints}

    def state(self) -> dict:
        """The ``last.pt`` checkpoint: tensors and plain containers only."""
        self.backend.to_host()
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": rng_state(self.data_generator),
            "epoch": self.epoch,
            "metrics": self.history,
            "config": self._config_dict(),
            "early_stopping": {"best_val": self.best_val, "bad_epochs": self.bad_epochs, "stopped": self.stopped},
        }

    def _resume(self) -> None:
        """Continue ``out_dir/last.pt`` if there is one (once), refusing other settings or other data."""
        self._resumed = True
        path = self.out_dir / LAST
        if not path.is_file():
            return
        ckpt = load_checkpoint(path)
        problems = resume_problems(ckpt["config"], self._config_dict(), path)
        if problems:
            raise ValueError(f"{path}: was written with {'; '.join(problems)}; "
                             "use another output folder or the same settings and data")
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        set_rng_state(ckpt["rng"], self.data_generator)
        self.epoch, self.history = ckpt["epoch"], list(ckpt["metrics"])
        stopping = ckpt["early_stopping"]
        self.best_val, self.bad_epochs = stopping["best_val"], stopping["bad_epochs"]
        self.stopped = self._patience_exhausted()  # a larger early_stopping_patience may continue a stopped run
        self.backend.to_device()

    def _patience_exhausted(self) -> bool:
        patience = self.config.early_stopping_patience
        return patience is not None and self.bad_epochs >= patience

    def _save(self, improved: bool, val_loss: float) -> None:
        """``last.pt`` every epoch, ``best.pt`` when the validation loss improved, the log rewritten whole."""
        state = self.state()
        save_checkpoint(self.out_dir / LAST, state)
        if improved:
            save_checkpoint(self.out_dir / BEST, {"model": state["model"], "epoch": self.epoch, "val_loss": val_loss,
                                                  "config": state["config"]})
        atomic_write_text(self.out_dir / LOG, "".join(json.dumps(m) + "\n" for m in self.history))

    # --- the loop -------------------------------------------------------------------------------

    def annealed_lr(self, epoch: int) -> float | None:
        """The learning rate of 0-based ``epoch`` under ``anneal_epochs`` (None before the annealing starts):
        a half cosine from the rate of the last epoch before it down to ``min_lr``, reached ``hold_epochs``
        before the final epoch, then ``min_lr``."""
        n, total = self.config.anneal_epochs, self.config.epochs - self.config.hold_epochs
        start = total - n if n else None
        if start is None or epoch < start or start < 1 or len(self.history) < start:
            return None
        lr0 = float(self.history[start - 1]["lr"])
        k = min(epoch - start + 1, n)
        return self.config.min_lr + (lr0 - self.config.min_lr) * 0.5 * (1.0 + math.cos(math.pi * k / n))

    def _anneal(self) -> None:
        lr = self.annealed_lr(self.epoch)
        current = self.optimizer.param_groups[0]["lr"]
        if lr is not None and lr != current:
            for group in self.optimizer.param_groups:  # groups of training.lr_scale keep their ratio
                group["lr"] = lr * group["lr"] / current
            self.backend.lr_changed()

    def resume(self) -> None:
        """Continue ``out_dir/last.pt`` now, if there is one (otherwise the first :meth:`fit` does it)."""
        if not self._resumed:
            self._resume()

    def fit(self, epochs: int | None = None) -> pd.DataFrame:
        """Train until ``epochs`` epochs in all (default ``config.epochs``) or early stopping; the metrics table.

        The first call continues ``out_dir/last.pt`` if present.
        """
        self.resume()
        target = self.config.epochs if epochs is None else epochs
        while self.epoch < target and not self.stopped:
            self._anneal()
            lr = self.optimizer.param_groups[0]["lr"]
            train, val = self.train_epoch(), self.evaluate()
            self.scheduler.step(val["loss"])
            if self.optimizer.param_groups[0]["lr"] != lr:
                self.backend.lr_changed()
            self.epoch += 1
            improved = val["loss"] < self.best_val
            self.best_val, self.bad_epochs = (val["loss"], 0) if improved else (self.best_val, self.bad_epochs + 1)
            self.stopped = self._patience_exhausted()
            metrics = {
                "epoch": self.epoch, "train_loss": train["loss"], "val_loss": val["loss"],
                "val_energy_mse": val["energy_mse"], "val_force_mse": val["force_mse"],
                "val_mae_per_water": val["mae_per_water"], "lr": lr, "epoch_time_s": train["seconds"],
                "clusters_per_s": train["clusters"] / train["seconds"], "best": improved,
                "threads": torch.get_num_threads(), "device": str(self.device.torch_device),
            }
            self.history.append(metrics)
            if self.is_main:
                self._save(improved, val["loss"])
            for callback in self.callbacks:
                callback(self, metrics)
        return self.metrics()

    def metrics(self) -> pd.DataFrame:
        return pd.DataFrame(self.history)
