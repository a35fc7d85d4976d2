"""Any energy model of the package as an ASE calculator, and relaxation with it.

ASE works in eV and eV/Angstrom; the conversion happens here and in
:func:`hydronet_nb.data.clusters.from_atoms` only (via :mod:`hydronet_nb.units`).

The calculator refuses what its models were not made for: a periodic cell, elements other than O and H, not
two H per O, an empty structure, and (unless ``structure_checks=False``, the expert's override) a geometry no
water cluster has -- overlapping atoms, broken molecules, coordinates not in Angstrom
(:func:`hydronet_nb.data.water.check_structure`). It checks every structure it is given: a new ``Atoms``
object, or new atomic numbers, cell or pbc. Moves of the same ``Atoms`` object (an MD run, a relaxation)
are not checked again: a line search may probe a stretched bond, and an MD run must be free to break apart
(``hydronet-nb md``'s stability detector records where and why).
"""
from __future__ import annotations

import weakref

import torch
from ase.calculators.calculator import Calculator, all_changes
from ase.optimize import BFGSLineSearch

from ..data.clusters import Cluster, from_atoms, to_atoms
from ..data.water import StructureError, check_structure
from ..units import ev_to_kcal_mol, kcal_mol_to_ev
from .schnet import energy_and_forces


class SchNetCalculator(Calculator):
    """Any energy model of this package (kcal/mol in, out) as an ASE calculator (eV out)."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, model: torch.nn.Module, device: torch.device | str = "cpu", structure_checks: bool = True,
                 **kwargs):
        super().__init__(**kwargs)
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        self.structure_checks = bool(structure_checks)
        self._checked = None  # a weak reference to the Atoms object whose structure was checked last

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        moved = atoms is not None and self._checked is not None and self._checked() is atoms \
            and not {"numbers", "pbc", "cell"} & set(system_changes)
        if not moved:
            self._check(self.atoms)
            self._checked = weakref.ref(atoms) if atoms is not None else None
        z = torch.as_tensor(self.atoms.numbers, dtype=torch.long, device=self.device)
        pos = torch.as_tensor(self.atoms.positions, dtype=torch.float32, device=self.device)
        e, f = energy_and_forces(self.model, z, pos)
        self.results["energy"] = float(kcal_mol_to_ev(e.item()))
        self.results["forces"] = kcal_mol_to_ev(f.double().cpu().numpy())

    def _check(self, atoms) -> None:
        name = f"SchNetCalculator: {atoms.get_chemical_formula() or 'empty Atoms'}"
        if atoms.pbc.any():
            raise StructureError(f"{name}: a periodic cell (pbc={atoms.pbc.tolist()}); the models are for "
                                 "isolated clusters (set atoms.pbc = False for a cluster in a box)")
        check_structure(atoms.numbers, atoms.positions, name, geometry=self.structure_checks)


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
