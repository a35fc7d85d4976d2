r"""Berendsen NVT for many replicas of one cluster in one model call: ASE's ``NVTBerendsen``, batched.

ASE's integrator (``ase.md.nvtberendsen``) moves one ``Atoms`` object; running ten seeds means ten
model calls per step, each on one small cluster. :class:`BatchedBerendsen` takes ``R`` replicas of
the same cluster as one ``[R, A, 3]`` tensor and calls the model once per step on all of them, on
the model's device; it writes no loop of its own over replicas. Each step is ASE's, in ASE's units
(eV, Angstrom, amu, ASE time), so that one replica reproduces ``NVTBerendsen`` (tested to 1e-5
Angstrom over 100 steps):

.. math::

    \lambda = \mathrm{clip}\Big(\sqrt{1 + \big(\tfrac{T_0}{T} - 1\big)\tfrac{\Delta t}{\tau}},\ 0.9,\ 1.1\Big),
    \quad \mathbf{p} \leftarrow \lambda\mathbf{p},
    \quad \mathbf{p} \leftarrow \mathbf{p} + \tfrac{\Delta t}{2}\mathbf{F}\ (-\ \bar{\mathbf{p}}),
    \quad \mathbf{r} \leftarrow \mathbf{r} + \Delta t\,\mathbf{p}/m,
    \quad \mathbf{p} \leftarrow \mathbf{p} + \tfrac{\Delta t}{2}\mathbf{F}(\mathbf{r}),

with :math:`T = 2 E_\mathrm{kin} / (3 A k_B)` and, as in ASE with ``fixcm=True``, the mean momentum
:math:`\bar{\mathbf{p}}` (not mass-weighted) removed after the first half kick. A replica whose
positions, forces or energy stop being finite, or that ``stop`` says is broken, is frozen: it leaves the
batch and the others go on.
"""
from __future__ import annotations

import numpy as np
import torch
from ase import units

from ..model.schnet import energy_and_forces
from ..units import kcal_mol_to_ev


class BatchedBerendsen:
    """``R`` replicas of a cluster (atomic numbers ``z`` [A], positions ``[R, A, 3]`` Angstrom, momenta
    ``[R, A, 3]`` in ASE units) under ``model`` (kcal/mol), ASE's NVTBerendsen step for all of them.

    ``timestep_fs``, ``temperature_k`` and ``taut_fs`` as the paper's MD (0.1 fs, 300 K, 500 fs);
    ``taut_fs=None`` is NVE: ASE's ``VelocityVerlet`` step (no scaling, no centre-of-mass correction).
    """

    def __init__(self, model: torch.nn.Module, z, positions, momenta, *, timestep_fs: float = 0.1,
                 temperature_k: float = 300.0, taut_fs: float = 500.0, fix_com: bool = True, device=None):
        from ase.data import atomic_masses

        self.model = model.eval()
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        self.z = torch.as_tensor(np.asarray(z), dtype=torch.long, device=self.device)
        self.pos = torch.as_tensor(np.asarray(positions), dtype=torch.float64, device=self.device).clone()
        self.p = torch.as_tensor(np.asarray(momenta), dtype=torch.float64, device=self.device).clone()
        if self.pos.dim() != 3 or self.pos.shape[1] != len(self.z) or self.pos.shape != self.p.shape:
            raise ValueError(f"positions and momenta must be [replicas, {len(self.z)}, 3]; got "
                             f"{tuple(self.pos.shape)} and {tuple(self.p.shape)}")
        self.masses = torch.as_tensor(atomic_masses[np.asarray(z)], dtype=torch.float64, device=self.device)
        self.dt, self.taut = timestep_fs * units.fs, None if taut_fs is None else taut_fs * units.fs
        self.temperature, self.fix_com = float(temperature_k), fix_com
        self.alive = torch.ones(len(self.pos), dtype=torch.bool, device=self.device)
        self.steps = 0
        self.energy, self.forces = self._evaluate(torch.arange(len(self.pos), device=self.device))

    @property
    def replicas(self) -> int:
        return len(self.pos)

    def _evaluate(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Energies [R] (eV) and forces [R, A, 3] (eV/Angstrom) of replicas ``rows``, one model call;
        replicas whose result is not finite are marked dead."""
        n, a = len(rows), len(self.z)
        energy = torch.full((self.replicas,), float("nan"), dtype=torch.float64, device=self.device)
        forces = torch.zeros_like(self.pos)
        if n:
            pos = self.pos[rows].reshape(n * a, 3).to(torch.float32)
            batch = torch.arange(n, device=self.device).repeat_interleave(a)
            e, f = energy_and_forces(self.model, self.z.repeat(n), pos, batch)
            energy[rows] = kcal_mol_to_ev(e.double().view(-1))
            forces[rows] = kcal_mol_to_ev(f.double().view(n, a, 3))
        bad = ~torch.isfinite(energy) | ~torch.isfinite(forces).all(dim=(1, 2)) | ~torch.isfinite(self.pos).all(dim=(1, 2))
        self.alive[rows] &= ~bad[rows]
        return energy, forces

    def temperatures(self) -> torch.Tensor:
        """The kinetic temperature of each replica (K), ASE's ``get_temperature`` (3A degrees of freedom)."""
        ekin = 0.5 * (self.p.square().sum(-1) / self.masses).sum(-1)
        return 2 * ekin / (3 * len(self.z) * units.kB)

    def step(self, stop=None) -> None:
        """One Berendsen step of every live replica; ``stop(positions [n, A, 3] numpy, rows)`` may return
        a boolean array of replicas to freeze after the step (a failure detector)."""
        rows = torch.nonzero(self.alive).view(-1)
        if not len(rows):
            return
        p = self.p[rows]
        if self.taut is not None:
            temperature = self.temperatures()[rows]
            scale = torch.sqrt(1.0 + (self.temperature / temperature - 1.0) * self.dt / self.taut).clamp(0.9, 1.1)
            p = p * scale[:, None, None]
        p = p + 0.5 * self.dt * self.forces[rows]
        if self.fix_com and self.taut is not None:
            p = p - p.mean(dim=1, keepdim=True)
        self.pos[rows] = self.pos[rows] + self.dt * p / self.masses[None, :, None]
        self.p[rows] = p
        energy, forces = self._evaluate(rows)
        self.energy[rows], self.forces[rows] = energy[rows], forces[rows]
        self.p[rows] = self.p[rows] + 0.5 * self.dt * self.forces[rows]
        self.steps += 1
        if stop is not None:
            live = torch.nonzero(self.alive).view(-1)
            if len(live):
                broken = torch.as_tensor(np.asarray(stop(self.pos[live].cpu().numpy(), live.cpu().numpy()),
                                                    dtype=bool), device=self.device)
                self.alive[live[broken]] = False

    def run(self, steps: int, stop=None, every: int = 1, callback=None) -> None:
        """``steps`` steps; ``callback(self)`` after every ``every``-th (frames, tables)."""
        for _ in range(steps):
            self.step(stop)
            if callback is not None and self.steps % every == 0:
                callback(self)
