"""Rounds of active sampling, as a driver around :class:`~hydronet_nb.train.trainer.Trainer` (not inside it).

The schedule (:class:`Schedule`): ``initial_epochs`` on the starting training set; then, ``rounds``
times, evaluate the model on the validation set and the examine pool, let the rule
(:mod:`hydronet_nb.finetune.active`) pick clusters of the pool, add them to the training set,
draw a new pool from the reserve (the pool's other clusters go back to it), and train
``epochs_per_round`` more epochs from the current weights; finally ``final_epochs`` with early
stopping (``final_patience``). The paper's: 50, 50 x 10, 50 (patience 50).

The driver keeps its own state in ``<out>/active.json`` (round, the three sets of rows, the
generator), written atomically after every round, and logs each addition in
``<out>/additions.csv`` (round, row, size, error, the round's threshold) and each round in
``<out>/rounds.csv``. A killed run continues where it stopped when rerun: mid-round from the
trainer's ``last.pt``, between rounds from this state.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..evaluate.predict import predict
from ..train.checkpoints import LAST, load_checkpoint
from ..utils.files import atomic_write_json, atomic_write_text
from ..utils.schema import check_ranges, message, setting
from .active import ENERGY_WEIGHT, ErfRule, RandomRule, cluster_errors

STATE, ADDITIONS, ROUNDS = "active.json", "additions.csv", "rounds.csv"
COLUMNS = {ADDITIONS: ["round", "row", "n_water", "error", "threshold", "rule"],
           ROUNDS: ["round", "epoch", "train_before", "added", "val_error_mean", "val_error_std", "pool_error_mean",
                    "threshold"]}


@dataclasses.dataclass(frozen=True)
class Schedule:
    """Epochs of each phase. The defaults are the paper's (590 epochs in all)."""

    initial_epochs: int = setting(50, ge=0)
    rounds: int = setting(50, ge=0)
    epochs_per_round: int = setting(10, ge=0)
    final_epochs: int = setting(50, ge=0)
    final_patience: int | None = setting(50, ge=1)

    def __post_init__(self):
        check_ranges(self, "schedule")
        if self.total < 1:
            raise ValueError(message(None, "schedule", "at least one epoch in all", dataclasses.asdict(self)))

    def round_end(self, r: int) -> int:
        """The epoch count at which round ``r`` (0: the initial phase) ends."""
        return self.initial_epochs + r * self.epochs_per_round

    @property
    def total(self) -> int:
        return self.round_end(self.rounds) + self.final_epochs


def errors_on(model, data, rows, energy_weight: float = ENERGY_WEIGHT, batch_size: int = 64) -> np.ndarray:
    """The paper's per-cluster error of ``model`` on ``data`` rows ``rows``, in the order of ``rows``."""
    subset = data.subset(np.asarray(rows, dtype=np.int64))
    was_training = model.training
    model.eval()
    try:
        # the run's own data: it trains on these structures as they are, so it ranks them without judging them
        table, forces = predict(model, subset, batch_size=batch_size, structure_checks=False)
    finally:
        model.train(was_training)
    f_pred = np.concatenate(forces) if forces else np.zeros((0, 3))
    return cluster_errors(table["energy"], subset.energy, subset.n_water, f_pred, subset.forces, subset.n_atoms,
                          energy_weight)


class ActiveSampler:
    """Grow the training set between rounds with ``rule`` and keep the trainer going.

    ``make_trainer(train_set)`` builds the :class:`~hydronet_nb.train.trainer.Trainer` (its output
    folder is ``out_dir``); ``data`` is the whole labelled set and ``split`` its row indices
    (``train_idx``, ``val_idx``, ``examine_idx``, ``reserve_idx``). With ``rule=None`` the training
    set never grows (plain finetuning on the same schedule).
    """

    def __init__(self, make_trainer, data, split: dict, schedule: Schedule, out_dir: str | Path, *,
                 rule: ErfRule | RandomRule | None = ErfRule(), energy_weight: float = ENERGY_WEIGHT,
                 examine_size: int | None = None, seed: int = 0, log=print):
        self.make_trainer, self.data, self.schedule = make_trainer, data, schedule
        self.out_dir, self.rule, self.energy_weight, self.log = Path(out_dir), rule, energy_weight, log
        self.val_rows = np.asarray(split["val_idx"], dtype=np.int64)
        self.state = self._load() or self._initial(split, examine_size, seed)
        self.trainer = None

    # --- state ---------------------------------------------------------------------------------

    def _initial(self, split: dict, examine_size: int | None, seed: int) -> dict:
        pool = np.asarray(split.get("examine_idx", []), dtype=np.int64)
        reserve = np.asarray(split.get("reserve_idx", []), dtype=np.int64)
        size = int(examine_size if examine_size is not None else len(pool))
        return {"round": 0, "train": np.asarray(split["train_idx"], dtype=np.int64).tolist(),
                "previous_train": None, "pool": pool[:size].tolist(),
                "reserve": np.concatenate([pool[size:], reserve]).astype(np.int64).tolist(), "examine_size": size,
                "rng": np.random.default_rng(seed).bit_generator.state, "final": False}

    def _load(self) -> dict | None:
        path = self.out_dir / STATE
        return json.loads(path.read_text()) if path.is_file() else None

    def _save(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.out_dir / STATE, self.state)

    def _table(self, name: str) -> pd.DataFrame:
        path = self.out_dir / name
        return pd.read_csv(path) if path.is_file() else pd.DataFrame(columns=COLUMNS[name])

    def _append(self, name: str, rows: list[dict], round_: int) -> None:
        """Add round ``round_``'s rows to a table, replacing any it already has: a run killed after the
        tables were written but before the state was rerun the round, and must not log it twice."""
        old, new = self._table(name), pd.DataFrame(rows, columns=COLUMNS[name])
        old = old[old["round"] != round_] if len(old) else old
        table = pd.concat([old, new], ignore_index=True) if len(old) else new
        atomic_write_text(self.out_dir / name, table.to_csv(index=False, float_format="%.6g"))

    def additions(self) -> pd.DataFrame:
        """Every cluster that joined: ``round, row, n_water, error, threshold, rule``."""
        return self._table(ADDITIONS)

    # --- the loop ------------------------------------------------------------------------------

    def _start_trainer(self):
        """The trainer on the training set its last checkpoint was written with (a kill between rounds
        leaves the checkpoint one set behind this driver's state), then on the current one."""
        current = self.data.subset(np.asarray(self.state["train"], dtype=np.int64), name="train")
        start = current
        last = self.out_dir / LAST
        if last.is_file() and self.state["previous_train"] is not None:
            previous = self.data.subset(np.asarray(self.state["previous_train"], dtype=np.int64), name="train")
            written = load_checkpoint(last)["config"].get("data", {}).get("train")
            if written is not None and written == previous.fingerprint() and written != current.fingerprint():
                start = previous
        trainer = self.make_trainer(start)
        trainer.resume()
        if start is not current:
            trainer.set_train(current)  # the checkpoint was one set behind: swap in the grown set
        return trainer

    def run(self) -> pd.DataFrame:
        """Run (or continue) the whole schedule; returns the trainer's per-epoch metrics."""
        schedule, state = self.schedule, self.state
        self.trainer = trainer = self._start_trainer()
        if not state["final"]:
            trainer.fit(schedule.round_end(state["round"]))
            while state["round"] < schedule.rounds:
                self._grow()
                trainer.set_train(self.data.subset(np.asarray(state["train"], dtype=np.int64), name="train"))
                trainer.fit(schedule.round_end(state["round"]))
            state["final"] = True
            self._save()
            trainer.bad_epochs, trainer.stopped = 0, False
        trainer.config.early_stopping_patience = schedule.final_patience
        trainer.stopped = trainer._patience_exhausted()
        return trainer.fit(schedule.total)

    def _grow(self) -> None:
        """One selection: the rule picks from the pool; the pool is refilled from the reserve."""
        state, model = self.state, self.trainer.model
        rng = np.random.default_rng()
        rng.bit_generator.state = state["rng"]
        pool = np.asarray(state["pool"], dtype=np.int64)
        added, threshold = np.zeros(0, dtype=np.int64), float("nan")
        if self.rule is not None and len(pool):
            val_err = errors_on(model, self.data, self.val_rows, self.energy_weight)
            pool_err = errors_on(model, self.data, pool, self.energy_weight)
            picks = self.rule.select(val_err, pool_err, rng, state["round"])
            added = pool[picks]
            if isinstance(self.rule, ErfRule):
                threshold = self.rule.threshold(val_err)
            this = state["round"] + 1
            self._append(ADDITIONS, [{"round": this, "row": int(r), "n_water": int(self.data.n_water[r]),
                                      "error": float(pool_err[p]), "threshold": threshold, "rule": self.rule.name}
                                     for p, r in zip(picks, added)], this)
            self._append(ROUNDS, [{"round": this, "epoch": self.trainer.epoch,
                                   "train_before": len(state["train"]), "added": int(len(added)),
                                   "val_error_mean": float(val_err.mean()), "val_error_std": float(val_err.std()),
                                   "pool_error_mean": float(pool_err.mean()), "threshold": threshold}], this)
            self.log(f"round {state['round'] + 1}: {len(added)} of {len(pool)} examined clusters join "
                     f"({len(state['train']) + len(added)} in training)")
        reserve = np.concatenate([np.asarray(state["reserve"], dtype=np.int64), np.setdiff1d(pool, added)])
        order = rng.permutation(len(reserve))
        size = min(state["examine_size"], len(reserve))
        state.update(round=state["round"] + 1, previous_train=state["train"],
                     train=state["train"] + added.tolist(), pool=reserve[order[:size]].tolist(),
                     reserve=reserve[order[size:]].tolist(), rng=rng.bit_generator.state)
        self._save()
