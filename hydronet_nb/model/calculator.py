"""Any energy model of the package as an ASE calculator, and relaxation with it.

ASE works in eV and eV/Angstrom; the conversion happens here and in
:func:`hydronet_nb.data.clusters.from_atoms` only (via :mod:`hydronet_nb.units`).
"""
from __future__ import annotations

import torch
from ase.calculators.calculator import Calculator, all_changes
from ase.optimize import BFGSLineSearch

from ..data.clusters import Cluster, from_atoms, to_atoms
from ..units import ev_to_kcal_mol, kcal_mol_to_ev
from .schnet import energy_and_forces


class SchNetCalculator(Calculator):
    """Any energy model of this package (kcal/mol in, out) as an ASE calculator (eV out)."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, model: torch.nn.Module, device: torch.device | str = "cpu", **kwargs):
        super().__init__(**kwargs)
        self.model = model.to(device).eval()
        self.device = torch.device(device)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        z = torch.as_tensor(self.atoms.numbers, dtype=torch.long, device=self.device)
        pos = torch.as_tensor(self.atoms.positions, dtype=torch.float32, device=self.device)
        e, f = energy_and_forces(self.model, z, pos)
        self.results["energy"] = float(kcal_mol_to_ev(e.item()))
        self.results["forces"] = kcal_mol_to_ev(f.double().cpu().numpy())


def relax(cluster: Cluster, calculator: Calculator, fmax: float = 0.5, steps: int = 200) -> tuple[Cluster, list[float]]:
    """Minimize ``cluster`` with ``calculator`` (BFGS with a line search; ``fmax`` in kcal/mol/Angstrom).

    Returns the relaxed cluster (energy and forces from the calculator, kcal/mol) and the energy
    after every step. The line search (ASE's ``BFGSLineSearch``) makes every step go downhill: plain
    BFGS jumps up and down on an irregular surface such as the published model's, and where it ends
    then depends on the rounding of float32 sums (on the number of CPU threads).
    """
    atoms = to_atoms(cluster)
    atoms.calc = calculator
    energies: list[float] = []
    opt = BFGSLineSearch(atoms, logfile=None)
    opt.attach(lambda: energies.append(float(ev_to_kcal_mol(atoms.get_potential_energy()))))
    opt.run(fmax=float(kcal_mol_to_ev(fmax)), steps=steps)
    atoms.get_forces()
    return from_atoms(atoms, source=f"{cluster.source} relaxed"), energies
