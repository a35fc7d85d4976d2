"""The one trainer of the book: pretraining on minima, finetuning on forces or on another potential.

:class:`Trainer` minimizes ``c * MSE(E) + (1 - c) * MSE(F)`` (:mod:`hydronet_nb.train.losses`; ``c = 1``
for pretraining) with the paper's recipe: Adam, ReduceLROnPlateau on the validation loss, the
element-wise gradient clamp, optional early stopping. It writes, into its output folder,

* ``metrics.jsonl`` -- one JSON line per epoch (``pandas.read_json(path, lines=True)``);
* ``last.pt`` -- everything needed to continue exactly (weights, optimizer, scheduler, random
  states, epoch, metrics, config), replaced atomically every epoch; :meth:`Trainer.fit` resumes
  from it;
* ``best.pt`` -- the weights of the epoch with the lowest validation loss (``hydronet-nb predict
  --model best.pt`` reads it).

Data are lists of :class:`~hydronet_nb.data.clusters.Cluster`; batches are whole clusters
(:class:`Batch`) or, with ``packed=True``, fixed-size packs (:mod:`hydronet_nb.train.packing`, required
on IPUs). Under ``torchrun`` each global batch is split between the ranks
(``DistributedDataParallel``), and the result is the same as one process on the whole batch.
"""
from __future__ import annotations

import dataclasses
import json
import math
import random
import time
import warnings
from functools import partial
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from . import ipu
from .checkpoints import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from ..data.clusters import Cluster, collate
from ..device import DeviceChoice, select_device
from .losses import ClusterLoss
from .packing import PackLoss, Packer, collate_packs

#: keys of the training config that may change when a run is resumed
RESUMABLE_CHANGES = ("epochs", "early_stopping_patience", "progress", "device", "num_workers")


@dataclasses.dataclass
class TrainConfig:
    """Training settings. The defaults are the paper's pretraining recipe (energy only)."""

    epochs: int = 100
    batch_size: int = 256  # clusters per optimizer step (all ranks together); packed: on average
    lr: float = 1e-4
    lr_patience: int = 5  # ReduceLROnPlateau on the validation loss
    lr_factor: float = 0.8
    min_lr: float = 1e-6
    clip_value: float = 200.0  # element-wise gradient clamp (torch.nn.utils.clip_grad_value_)
    energy_weight: float = 1.0  # c in c * MSE(E) + (1 - c) * MSE(F); the paper's finetuning uses 0.05
    early_stopping_patience: int | None = None  # stop after this many epochs without a better val loss
    seed: int = 0
    packed: bool = False
    pack_atoms: int = 192  # packed: real atoms per pack at most
    pack_clusters: int | None = None  # packed: clusters per pack at most (None: as many as fit)
    deterministic: bool = False  # torch.use_deterministic_algorithms(True)
    device: str = "auto"  # auto, cuda, cpu or ipu
    num_workers: int = 0  # DataLoader worker processes building the batches
    progress: bool = True  # tqdm bars
    ipu: ipu.IPUSettings = dataclasses.field(default_factory=ipu.IPUSettings)

    def __post_init__(self):
        if isinstance(self.ipu, dict):
            self.ipu = ipu.IPUSettings(**self.ipu)
        positive = ("epochs", "batch_size", "lr", "lr_patience", "clip_value", "pack_atoms")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"training.{name} must be positive, got {getattr(self, name)}")
        if not 0.0 < self.lr_factor < 1.0:
            raise ValueError(f"training.lr_factor must be in (0, 1), got {self.lr_factor}")
        if not 0.0 <= self.energy_weight <= 1.0:
            raise ValueError(f"training.energy_weight must be in [0, 1], got {self.energy_weight}")

    @classmethod
    def from_dict(cls, values: dict, source: str = "training config") -> "TrainConfig":
        """A config from a plain dict; unknown keys are an error that names them and ``source``."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{source}: unknown training setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**values)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's generators (call before building the model)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Batch(NamedTuple):
    """Whole clusters in PyG layout."""

    z: torch.Tensor  # [atoms] int64
    pos: torch.Tensor  # [atoms, 3] float32, Angstrom
    batch: torch.Tensor  # [atoms] cluster of each atom
    energy: torch.Tensor  # [clusters] float32, kcal/mol
    n_water: torch.Tensor  # [clusters] int64
    forces: torch.Tensor | None  # [atoms, 3] float32, kcal/mol/Angstrom; None: energy only

    def to(self, device) -> "Batch":
        return Batch(*(None if t is None else t.to(device) for t in self))


class ClusterData(Dataset):
    """Clusters with reference energies (and forces) as flat arrays; item ``i`` is a :class:`Cluster`."""

    def __init__(self, clusters: Sequence[Cluster], *, with_forces: bool, name: str = "data"):
        if not len(clusters):
            raise ValueError(f"{name}: no clusters")
        for c in clusters:
            if c.energy is None:
                raise ValueError(f"{name}: {c.source or 'a cluster'} has no reference energy")
            if with_forces and c.forces is None:
                raise ValueError(f"{name}: {c.source or 'a cluster'} has no reference forces (needed for energy_weight < 1)")
        self.name, self.with_forces = name, with_forces
        self.n_atoms = np.array([c.n_atoms for c in clusters], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.n_atoms)])
        self.z = np.concatenate([c.z for c in clusters]).astype(np.int64)
        self.pos = np.concatenate([c.pos for c in clusters]).astype(np.float32)
        self.energy = np.array([c.energy for c in clusters], dtype=np.float64)
        self.forces = np.concatenate([c.forces for c in clusters]).astype(np.float32) if with_forces else None

    def __len__(self) -> int:
        return len(self.n_atoms)

    def __getitem__(self, i: int) -> Cluster:
        a, b = self.offsets[i], self.offsets[i + 1]
        return Cluster(z=self.z[a:b], pos=self.pos[a:b], energy=float(self.energy[i]),
                       forces=None if self.forces is None else self.forces[a:b])


def collate_batch(clusters: Sequence[Cluster], with_forces: bool) -> Batch:
    """A :class:`Batch` of clusters (``forces`` only when ``with_forces``)."""
    z, pos, batch = collate(clusters)
    energy = torch.tensor([c.energy for c in clusters], dtype=torch.float32)
    n_water = torch.tensor([c.n_water for c in clusters], dtype=torch.int64)
    forces = torch.from_numpy(np.concatenate([c.forces for c in clusters])) if with_forces else None
    return Batch(z, pos, batch, energy, n_water, forces)


class _Step(NamedTuple):
    """One rank's share of a global batch and the global counts the loss divides by."""

    batch: Batch | object  # Batch or packing.Pack
    energy_norm: float
    force_norm: float


class Trainer:
    """Train ``model`` on ``train`` and validate on ``val`` (lists of :class:`Cluster`).

    ``out_dir`` receives the log and checkpoints; an existing ``last.pt`` there is resumed.
    ``model_config`` (a plain dict, e.g. :class:`~hydronet_nb.model.schnet.SchNetConfig` as a dict) is stored
    in the checkpoints. ``callbacks`` are called as ``callback(trainer, metrics)`` after each
    epoch's checkpoint is written. Data parallelism is on when ``torch.distributed`` is initialized.
    """

    def __init__(self, model: torch.nn.Module, train: Sequence[Cluster], val: Sequence[Cluster], config: TrainConfig,
                 out_dir: str | Path, *, model_config: dict | None = None, device: DeviceChoice | None = None,
                 callbacks: Sequence[Callable] = ()):
        self.config, self.out_dir = config, Path(out_dir)
        self.model_config = dict(model_config or {})
        self.callbacks = list(callbacks)
        self.rank, self.world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
        self.device = device or select_device(config.device)
        if config.deterministic:
            torch.use_deterministic_algorithms(True)
        with_forces = config.energy_weight < 1.0
        self.train_data = ClusterData(train, with_forces=with_forces, name="training set")
        self.val_data = ClusterData(val, with_forces=with_forces, name="validation set")
        self.model = model.to(self.device.torch_device)
        self.on_ipu = self.device.kind == "ipu"
        if config.packed:
            train_packer = Packer(self.train_data.n_atoms, config.pack_atoms, config.pack_clusters)
            self.slots = train_packer.slots  # cluster slots per pack: the same shapes for every data set
            self.train_split = (self.train_data, train_packer)
            self.val_split = self._split(self.val_data)
            self.loss_module = PackLoss(self.model, config.energy_weight, config.pack_atoms, self.slots)
        else:
            self.train_split, self.val_split = (self.train_data, None), (self.val_data, None)
            self.loss_module = ClusterLoss(self.model, config.energy_weight)
        self.data_generator = torch.Generator().manual_seed(config.seed)
        if self.on_ipu:
            self._setup_ipu()
        else:
            self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
            self.step_module = self.loss_module
            if self.world > 1:
                ids = [self.device.torch_device] if self.device.kind == "cuda" else None
                self.step_module = DistributedDataParallel(self.loss_module, device_ids=ids)
                # the force term's double backward gives the [1, n] output weight a gradient with other
                # strides along its size-1 dimension: the same layout, and DDP copies it correctly
                warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, mode="min", factor=config.lr_factor, patience=config.lr_patience, min_lr=config.min_lr)
        self.history: list[dict] = []
        self.best_val, self.bad_epochs, self.stopped = math.inf, 0, False
        self.epoch = 0  # epochs completed

    # --- set-up ---------------------------------------------------------------------------------

    def _setup_ipu(self) -> None:
        if not self.config.packed:
            raise ValueError("training on IPUs needs training.packed: true (PopTorch compiles fixed shapes)")
        if self.world > 1:
            raise ValueError("use ipu.replicas for data parallelism on IPUs, not torchrun")
        n_ipus = ipu.ipu_count()
        self.ipu_settings = ipu.option_settings(self.config.ipu, n_ipus, self.config.seed)
        self.ipu_eval_settings = ipu.option_settings(self.config.ipu, n_ipus, self.config.seed, training=False)
        self.optimizer = ipu.adam(self.model.parameters(), self.config.lr)
        loss = ipu.IPULoss(self.loss_module)
        self.ipu_train = ipu.training_model(loss, self.ipu_settings, self.optimizer)
        self.ipu_eval = ipu.inference_model(loss, self.ipu_eval_settings)
        warnings.warn("on IPUs PopTorch runs the optimizer on the device: the element-wise gradient clamp "
                      "(training.clip_value) is not applied there", stacklevel=3)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # --- batches --------------------------------------------------------------------------------

    def _split(self, data: ClusterData) -> tuple[ClusterData, Packer | None]:
        """``data`` and, when packing, its packs (at most as many clusters per pack as the training packs)."""
        return data, Packer(data.n_atoms, self.config.pack_atoms, self.slots) if self.config.packed else None

    def _global_batches(self, data: ClusterData, packer: Packer | None, training: bool) -> list[np.ndarray]:
        """Index arrays of whole clusters, or ``[packs, slots]`` pack rows, one per global batch.

        The training set is reshuffled every epoch with the data-order generator.
        """
        generator = self.data_generator if training else None
        if packer is None:
            order = torch.randperm(len(data), generator=generator).numpy() if training else np.arange(len(data))
            size = self.config.batch_size
        else:
            order = packer.packs(generator)
            if self.on_ipu:  # whole host calls: top the last one up with empty packs
                size = ipu.packs_per_call(self.ipu_settings if training else self.ipu_eval_settings,
                                          self.config.ipu.micro_batch_packs)
                order = np.concatenate([order, np.full((-len(order) % size, order.shape[1]), -1)])
            else:
                size = max(1, round(self.config.batch_size * packer.n_packs / len(data)))
        batches = [order[i:i + size] for i in range(0, len(order), size)]
        if training:  # DistributedDataParallel needs every rank in every step
            batches = [b for b in batches if len(b) >= self.world]
        return batches

    def _collate(self, data: ClusterData, rows: np.ndarray) -> _Step | None:
        """This rank's share of a global batch (``None`` when it has none: the end of an evaluation)."""
        valid = rows[rows >= 0]
        energy_norm = len(valid) / self.world
        force_norm = 3 * int(data.n_atoms[valid].sum()) / self.world
        local = rows[self.rank::self.world]
        if not len(local):
            return None
        if self.config.packed:
            batch = collate_packs(data, local, self.config.pack_atoms, self.slots, data.with_forces)
        else:
            batch = collate_batch([data[i] for i in local], data.with_forces)
        return _Step(batch, energy_norm, force_norm)

    def _loader(self, data: ClusterData, packer: Packer | None, training: bool) -> DataLoader:
        return DataLoader(self._global_batches(data, packer, training), batch_size=None, shuffle=False,
                          num_workers=self.config.num_workers, collate_fn=partial(self._collate, data))

    # --- steps ----------------------------------------------------------------------------------

    def _sums(self, out, step: _Step) -> torch.Tensor:
        """``[SSE_E, sum |dE|/water, SSE_F, clusters, atoms]`` of one step, as a float64 tensor."""
        batch = step.batch
        n_clusters = batch.n_clusters if self.config.packed else len(batch.energy)
        n_atoms = batch.n_atoms if self.config.packed else len(batch.z)
        return torch.tensor([float(t.sum()) for t in out[1:]] + [n_clusters, n_atoms], dtype=torch.float64)

    def _train_step(self, step: _Step) -> torch.Tensor:
        batch = step.batch.to(self.device.torch_device)
        if self.on_ipu:
            return self._sums(self.ipu_train(*batch[:5]), step)
        self.optimizer.zero_grad(set_to_none=True)
        out = self.step_module(*batch, step.energy_norm, step.force_norm)
        out[0].backward()
        torch.nn.utils.clip_grad_value_(self.model.parameters(), self.config.clip_value)
        self.optimizer.step()
        return self._sums(out, step)

    def _reduce(self, sums: torch.Tensor) -> dict:
        if self.world > 1:
            dist.all_reduce(sums, op=dist.ReduceOp.SUM)
        sse_e, sae_w, sse_f, n_clusters, n_atoms = sums.tolist()
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
        bar = tqdm(self._loader(*self.train_split, training=True), desc=f"epoch {self.epoch + 1}/{self.config.epochs}",
                   leave=False, disable=not (self.config.progress and self.is_main))
        for step in bar:
            step_sums = self._train_step(step)
            sums += step_sums
            bar.set_postfix(energy_mse=f"{step_sums[0] / max(step_sums[3], 1):.4g}")
        out = self._reduce(sums)
        out["seconds"] = time.perf_counter() - start
        return out

    def evaluate(self, clusters: Sequence[Cluster] | None = None) -> dict:
        """Loss, energy MSE, force MSE and MAE per water on ``clusters`` (default: the validation set)."""
        data, packer = self.val_split if clusters is None else self._split(
            ClusterData(clusters, with_forces=self.train_data.with_forces, name="evaluation set"))
        self.loss_module.eval()
        module = self.ipu_eval if self.on_ipu else self.loss_module
        sums = torch.zeros(5, dtype=torch.float64)
        with torch.no_grad():
            for step in self._loader(data, packer, training=False):
                if step is None:
                    continue
                batch = step.batch.to(self.device.torch_device)
                sums += self._sums(module(*(batch[:5] if self.on_ipu else batch)), step)
        return self._reduce(sums)

    # --- checkpoints ----------------------------------------------------------------------------

    def _config_dict(self) -> dict:
        return {"training": self.config.as_dict(), "model": self.model_config}

    def state(self) -> dict:
        """The ``last.pt`` checkpoint: tensors and plain containers only."""
        if self.on_ipu:
            self.ipu_train.copyWeightsToHost()
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
        path = self.out_dir / "last.pt"
        if not path.is_file():
            return
        ckpt = load_checkpoint(path)
        saved, now = ckpt["config"], self._config_dict()
        changed = sorted(k for k in set(saved["training"]) | set(now["training"])
                         if saved["training"].get(k) != now["training"].get(k) and k not in RESUMABLE_CHANGES)
        changed += ["model." + k for k in set(saved["model"]) | set(now["model"])
                    if saved["model"].get(k) != now["model"].get(k)]
        if changed:
            raise ValueError(f"{path}: was written with other settings ({', '.join(changed)}); "
                             f"use another output folder or the same settings")
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        set_rng_state(ckpt["rng"], self.data_generator)
        self.epoch, self.history = ckpt["epoch"], list(ckpt["metrics"])
        stopping = ckpt["early_stopping"]
        self.best_val, self.bad_epochs = stopping["best_val"], stopping["bad_epochs"]
        self.stopped = self._patience_exhausted()  # a larger early_stopping_patience may continue a stopped run
        if self.on_ipu:
            self.ipu_train.copyWeightsToDevice()
            self.ipu_train.setOptimizer(self.optimizer)

    def _patience_exhausted(self) -> bool:
        patience = self.config.early_stopping_patience
        return patience is not None and self.bad_epochs >= patience

    def _write_log(self) -> None:
        """``metrics.jsonl`` from the history (rewritten whole, so a resumed run has no duplicates)."""
        path = self.out_dir / "metrics.jsonl"
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(json.dumps(m) + "\n" for m in self.history))
        tmp.replace(path)

    # --- the loop -------------------------------------------------------------------------------

    def fit(self) -> pd.DataFrame:
        """Train up to ``config.epochs`` epochs (continuing ``out_dir/last.pt`` if present); the metrics table."""
        self._resume()
        while self.epoch < self.config.epochs and not self.stopped:
            lr = self.optimizer.param_groups[0]["lr"]
            train = self.train_epoch()
            val = self.evaluate()
            self.scheduler.step(val["loss"])
            if self.on_ipu and self.optimizer.param_groups[0]["lr"] != lr:
                self.ipu_train.setOptimizer(self.optimizer)
            self.epoch += 1
            improved = val["loss"] < self.best_val
            self.best_val, self.bad_epochs = (val["loss"], 0) if improved else (self.best_val, self.bad_epochs + 1)
            self.stopped = self._patience_exhausted()
            metrics = {
                "epoch": self.epoch, "train_loss": train["loss"], "val_loss": val["loss"],
                "val_energy_mse": val["energy_mse"], "val_force_mse": val["force_mse"],
                "val_mae_per_water": val["mae_per_water"], "lr": lr, "epoch_time_s": train["seconds"],
                "clusters_per_s": train["clusters"] / train["seconds"], "best": improved,
            }
            self.history.append(metrics)
            if self.is_main:
                state = self.state()
                save_checkpoint(self.out_dir / "last.pt", state)
                if improved:
                    save_checkpoint(self.out_dir / "best.pt", {"model": state["model"], "epoch": self.epoch,
                                                              "val_loss": val["loss"], "config": state["config"]})
                self._write_log()
            for callback in self.callbacks:
                callback(self, metrics)
        return self.metrics()

    def metrics(self) -> pd.DataFrame:
        return pd.DataFrame(self.history)
