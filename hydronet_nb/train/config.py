"""Training settings (:class:`TrainConfig`, the paper's recipe by default) and the one seeding function."""
from __future__ import annotations

import dataclasses
import random

import numpy as np
import torch

from ..utils.config import from_mapping
from ..utils.schema import check_ranges, setting
from .ipu import IPUSettings

#: keys of the training config that may change when a run is resumed
# (anneal_epochs and hold_epochs only change epochs not yet run when they are added, or extended, before
# the epochs they change)
RESUMABLE_CHANGES = ("epochs", "early_stopping_patience", "progress", "device", "num_workers", "anneal_epochs",
                     "hold_epochs")


@dataclasses.dataclass
class TrainConfig:
    """Training settings. The defaults are the paper's pretraining recipe (energy only). Types and ranges are
    checked (:mod:`hydronet_nb.utils.schema`): from a config file by :meth:`from_dict`, the ranges always."""

    epochs: int = setting(100, ge=1)
    batch_size: int = setting(256, ge=1)  # clusters per optimizer step (all ranks together); packed: on average
    lr: float = setting(1e-4, gt=0)
    lr_patience: int = setting(5, ge=1)  # ReduceLROnPlateau on the validation loss
    lr_factor: float = setting(0.8, gt=0, lt=1)
    min_lr: float = setting(1e-6, ge=0)
    clip_value: float = setting(200.0, gt=0)  # element-wise gradient clamp (torch.nn.utils.clip_grad_value_)
    # c in c * MSE(E) + (1 - c) * MSE(F); the paper's finetuning uses 0.05
    energy_weight: float = setting(1.0, ge=0, le=1)
    # forces differentiated with create_graph=True so the force term trains the weights; False repeats
    # the released code's first bug (the force term then trains nothing), for the study that measures it
    create_graph: bool = True
    # stop after this many epochs without a better val loss
    early_stopping_patience: int | None = setting(None, ge=1)
    # the last anneal_epochs of `epochs`: the learning rate falls along a half cosine from where the
    # plateau schedule left it to min_lr, so that a run ends settled (None: plateau schedule only)
    anneal_epochs: int | None = setting(None, ge=1)
    # epochs at min_lr after the annealing (the annealing ends hold_epochs before `epochs`)
    hold_epochs: int = setting(0, ge=0)
    # parameters by name prefix (PyG SchNet's names: embedding, interactions, lin1, lin2): frozen ones never
    # change; lr_scale multiplies the learning rate of a prefix's parameters (the scheduler keeps the ratio).
    # freeze is a list even for one prefix (`freeze: [embedding]`): a bare string is refused, not split
    freeze: list[str] = dataclasses.field(default_factory=list)
    lr_scale: dict[str, float] = setting(factory=dict, gt=0)
    seed: int = setting(0, ge=0)
    packed: bool = False
    pack_atoms: int = setting(192, ge=1)  # packed: real atoms per pack at most
    pack_clusters: int | None = setting(None, ge=1)  # packed: clusters per pack at most (None: as many as fit)
    deterministic: bool = False  # torch.use_deterministic_algorithms(True)
    device: str = setting("auto", choices=("auto", "cuda", "cpu", "ipu"))
    num_workers: int = setting(0, ge=0)  # DataLoader worker processes building the batches
    progress: bool = True  # tqdm bars
    ipu: IPUSettings = dataclasses.field(default_factory=IPUSettings)

    def __post_init__(self):
        if isinstance(self.ipu, dict):
            self.ipu = from_mapping(IPUSettings, self.ipu, "training.ipu")
        check_ranges(self, "training")
        if isinstance(self.freeze, str):  # "embedding" would otherwise be read as the prefixes e, m, b, ...
            raise ValueError(f"training.freeze: expected a list of strings, got {self.freeze!r}")
        if self.anneal_epochs is not None and not 0 < self.anneal_epochs <= self.epochs - self.hold_epochs:
            raise ValueError(f"training.anneal_epochs must lie in 1..epochs - hold_epochs "
                             f"({self.epochs - self.hold_epochs}), got {self.anneal_epochs}")
        if self.hold_epochs and self.anneal_epochs is None:
            raise ValueError(f"training.hold_epochs needs anneal_epochs, got hold_epochs {self.hold_epochs}")
        if self.packed and not self.create_graph:
            raise ValueError("training.create_graph: false (the released code's bug) is only for whole clusters, "
                             "not packed")

    @property
    def with_forces(self) -> bool:
        """Whether the loss has a force term (and the data need forces)."""
        return self.energy_weight < 1.0

    @classmethod
    def from_dict(cls, values: dict, source: str = "training config") -> "TrainConfig":
        """A config from a plain dict; unknown keys are an error that names them and ``source``."""
        return from_mapping(cls, values, "training", source)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def parameter_groups(model, config: TrainConfig) -> list[dict]:
    """The optimizer's parameter groups: ``config.freeze`` prefixes left out (and ``requires_grad`` off),
    one group per ``config.lr_scale`` prefix at ``lr * factor``, the rest at ``lr``. Prefixes that match no
    parameter are an error naming them."""
    names = [name for name, _ in model.named_parameters()]
    for prefix in [*config.freeze, *config.lr_scale]:
        if not any(n == prefix or n.startswith(prefix + ".") for n in names):
            raise ValueError(f"training: no parameter is named {prefix!r} or starts with it; the model has "
                             f"{', '.join(sorted({n.split('.')[0] for n in names}))}")

    def owner(name: str, prefixes) -> str | None:
        return next((p for p in prefixes if name == p or name.startswith(p + ".")), None)

    groups = {None: []} | {prefix: [] for prefix in config.lr_scale}
    for name, param in model.named_parameters():
        if owner(name, config.freeze) is not None:
            param.requires_grad_(False)
            continue
        groups[owner(name, config.lr_scale)].append(param)
    return [{"params": params, "lr": config.lr * float(config.lr_scale.get(prefix, 1.0))}
            for prefix, params in groups.items() if params]


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's generators (call before building the model)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
