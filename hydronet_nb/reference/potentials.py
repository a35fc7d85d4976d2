"""Reference potentials for water clusters, standing in for the paper's TTM2.1-F and MB-pol.

Neither TTM2.1-F nor MB-pol installs from PyPI, so the book uses two potentials that do:

* :class:`Amoeba` -- AMOEBA2018 water through OpenMM, a flexible, polarizable many-body model like
  TTM2.1-F (no cutoff, mutual induced dipoles converged tightly). It also minimizes clusters and runs
  the MD that makes non-minima.
* :class:`GFN2xTB` -- GFN2-xTB through tblite, a quantum (tight-binding) method, the higher level
  standing in for MB-pol in the transfer experiment.
* :class:`TTM21F` -- an optional adapter for users who built PNNL's TTM library themselves.

All follow HydroNet's convention: the energy of a cluster of N waters is
``E(cluster) - N * E(isolated monomer relaxed with the same potential)`` in kcal/mol, forces in
kcal/mol/Angstrom. Each potential is usable as an ASE calculator (:meth:`WaterPotential.calculator`,
eV and eV/Angstrom) and as a batch evaluator over :class:`~hydronet_nb.data.clusters.Cluster` objects
(:meth:`WaterPotential.evaluate`). Atoms must be ordered ``O H H`` per molecule.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from functools import cached_property

import numpy as np
import openmm
import openmm.app as app
import openmm.unit as unit
import scipy.optimize
from ase import units as ase_units
from ase.calculators.calculator import Calculator, all_changes

from ..data.clusters import Cluster
from ..data.water import MONOMER, check_water_order, water_numbers
from ..units import ev_to_kcal_mol, kcal_mol_to_ev

#: OpenMM's units for what the package keeps in kcal/mol and Angstrom (OpenMM converts, we never do by hand)
_KCAL = unit.kilocalorie_per_mole
_KCAL_A = unit.kilocalorie_per_mole / unit.angstrom

#: largest force (kcal/mol/Angstrom) left on a relaxed monomer; its energy is then within ~1e-9 kcal/mol of the minimum
MONOMER_FMAX = 1e-3
#: start of every monomer relaxation: the gas-phase water geometry (:data:`hydronet_nb.data.water.MONOMER`)
_WATER_START = MONOMER


class WaterPotential(ABC):
    """A water potential: subclasses give the total energy and forces of one geometry."""

    #: short name, used in dataset cards
    name: str = ""

    @abstractmethod
    def total_energy_forces(self, pos: np.ndarray) -> tuple[float, np.ndarray]:
        """Total energy (kcal/mol) and forces (kcal/mol/Angstrom) of waters at ``pos`` [3N, 3] Angstrom, O H H order."""

    def settings(self) -> dict:
        """The settings that determine this potential's numbers, for dataset cards and work-folder checks."""
        return {"name": self.name}

    @cached_property
    def monomer(self) -> Cluster:
        """The isolated water relaxed with this potential (computed once per instance); ``energy`` is its total energy.

        Relaxed with SciPy's BFGS on the potential's own energy and forces: three atoms, a few dozen
        steps, and the same code for every potential. With GFN2-xTB, SCF noise stops BFGS ("precision
        loss") at forces of ~1e-4 kcal/mol/Angstrom, which is accepted: the check is on the forces.
        """
        def fun(x):
            e, f = self.total_energy_forces(x.reshape(3, 3))
            return e, -f.ravel()

        opt = scipy.optimize.minimize(fun, _WATER_START.ravel(), jac=True, method="BFGS", options={"gtol": 1e-7})
        if np.abs(fun(opt.x)[1]).max() > MONOMER_FMAX:
            raise RuntimeError(f"{self.name}: the isolated monomer did not relax ({opt.message})")
        pos = opt.x.reshape(3, 3)
        energy, forces = self.total_energy_forces(pos)
        return Cluster(z=water_numbers(1), pos=pos, energy=energy, forces=forces, source=f"{self.name} relaxed monomer")

    @property
    def monomer_energy(self) -> float:
        """Total energy of the relaxed isolated monomer, kcal/mol."""
        return float(self.monomer.energy)

    def energy_forces(self, pos: np.ndarray) -> tuple[float, np.ndarray]:
        """Energy relative to relaxed monomers (kcal/mol) and forces (kcal/mol/Angstrom) at ``pos`` [3N, 3] Angstrom."""
        pos = np.asarray(pos, dtype=np.float64)
        energy, forces = self.total_energy_forces(pos)
        return energy - (len(pos) // 3) * self.monomer_energy, forces

    def evaluate(self, clusters: list[Cluster]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Energies [n] (kcal/mol, relative to relaxed monomers) and forces (an [atoms, 3] array per cluster, kcal/mol/Angstrom)."""
        energies, forces = np.empty(len(clusters)), []
        for i, c in enumerate(clusters):
            check_water_order(c.z, c.source)
            try:
                energies[i], f = self.energy_forces(c.pos)
            except Exception as exc:  # the libraries' own errors do not say which structure
                raise RuntimeError(f"{self.name} failed on {c.source or f'cluster {i}'}: {exc}") from exc
            forces.append(f)
        return energies, forces

    def calculator(self) -> WaterCalculator:
        """An ASE calculator for this potential (eV, eV/Angstrom)."""
        return WaterCalculator(self)


class WaterCalculator(Calculator):
    """ASE calculator around a :class:`WaterPotential`: energy relative to relaxed monomers, in eV and eV/Angstrom."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, potential: WaterPotential, **kwargs):
        super().__init__(**kwargs)
        self.potential = potential

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        check_water_order(self.atoms.numbers, f"{self.potential.name} calculator: atoms {self.atoms.get_chemical_formula()}")
        energy, forces = self.potential.energy_forces(self.atoms.positions)
        self.results = {"energy": kcal_mol_to_ev(energy), "forces": kcal_mol_to_ev(forces)}


# --- AMOEBA2018 through OpenMM -------------------------------------------------------------------

#: per force class, the method counting its terms; a force whose count is 0 computes nothing
_TERM_COUNTS = {
    "HarmonicBondForce": "getNumBonds",
    "HarmonicAngleForce": "getNumAngles",
    "PeriodicTorsionForce": "getNumTorsions",
    "CustomBondForce": "getNumBonds",
    "CustomAngleForce": "getNumAngles",
    "CustomTorsionForce": "getNumTorsions",
    "CustomCompoundBondForce": "getNumBonds",
    "AmoebaTorsionTorsionForce": "getNumTorsionTorsions",
}


def remove_empty_forces(system: openmm.System) -> list[str]:
    """Remove the forces of ``system`` that have no terms; return their class names.

    ``amoeba2018.xml`` adds torsion, pi-torsion, stretch-bend, out-of-plane and torsion-torsion
    forces that are empty for water. Each custom one still compiles its expressions when a
    Context is made, which costs 8-14 s per Context (measured); without them it takes ~5 ms.
    The energy is unchanged (tested).
    """
    removed = []
    for index in reversed(range(system.getNumForces())):
        force = system.getForce(index)
        counter = _TERM_COUNTS.get(type(force).__name__)
        if counter is not None and getattr(force, counter)() == 0:
            removed.append(type(force).__name__)
            system.removeForce(index)
    return removed[::-1]


def water_topology(n_water: int) -> app.Topology:
    """An OpenMM topology of ``n_water`` HOH residues, atoms O H1 H2, in the package's atom order."""
    top = app.Topology()
    chain = top.addChain()
    for _ in range(n_water):
        res = top.addResidue("HOH", chain)
        o = top.addAtom("O", app.element.oxygen, res)
        top.addBond(o, top.addAtom("H1", app.element.hydrogen, res))
        top.addBond(o, top.addAtom("H2", app.element.hydrogen, res))
    return top


class Amoeba(WaterPotential):
    """AMOEBA2018 water (``amoeba2018.xml``) in OpenMM: no cutoff, mutual polarization.

    ``polarization_epsilon`` is OpenMM's ``mutualInducedTargetEpsilon`` (RMS change of the induced
    dipoles, in Debye, at which the iteration stops); OpenMM's default is 0.01, here 1e-6 so that
    forces match finite differences of the energy to ~1e-5 kcal/mol/Angstrom (1e-8 costs 4x more).
    OpenMM's Reference platform runs everything: the AMOEBA forces have no optimized CPU kernels
    (the CPU platform falls back to the same code), and Reference is double precision and
    deterministic. One evaluation Context is cached per cluster size.
    """

    name = "AMOEBA2018"
    platform_name = "Reference"

    def __init__(self, polarization_epsilon: float = 1e-6):
        if not polarization_epsilon > 0:
            raise ValueError(f"polarization_epsilon must be positive, got {polarization_epsilon}")
        self.polarization_epsilon = polarization_epsilon
        self._forcefield = app.ForceField("amoeba2018.xml")
        self._contexts: dict[int, openmm.Context] = {}

    def settings(self) -> dict:
        return {"name": self.name, "force_field": "amoeba2018.xml", "nonbonded": "NoCutoff", "polarization": "mutual",
                "polarization_epsilon": self.polarization_epsilon, "platform": self.platform_name}

    def system(self, n_water: int) -> openmm.System:
        """The OpenMM System of ``n_water`` waters, without the forces that are empty for water."""
        system = self._forcefield.createSystem(
            water_topology(n_water), nonbondedMethod=app.NoCutoff, polarization="mutual",
            mutualInducedTargetEpsilon=self.polarization_epsilon,
        )
        remove_empty_forces(system)
        return system

    def context(self, n_water: int, integrator: openmm.Integrator | None = None) -> openmm.Context:
        """A new Context for ``n_water`` waters (a Verlet integrator unless one is given)."""
        return openmm.Context(self.system(n_water), integrator or openmm.VerletIntegrator(0.001),
                              openmm.Platform.getPlatformByName(self.platform_name))

    def _cached_context(self, n_water: int) -> openmm.Context:
        if n_water not in self._contexts:
            self._contexts[n_water] = self.context(n_water)
        return self._contexts[n_water]

    def total_energy_forces(self, pos: np.ndarray) -> tuple[float, np.ndarray]:
        ctx = self._cached_context(len(pos) // 3)
        ctx.setPositions(np.asarray(pos, dtype=np.float64) * unit.angstrom)
        return _energy_forces(ctx)

    def minimize(self, pos: np.ndarray, tolerance: float = 0.01, max_iterations: int = 0) -> tuple[np.ndarray, float]:
        """Locally minimize waters at ``pos`` [3N, 3] Angstrom; return the minimum (Angstrom, float64) and its energy.

        Uses OpenMM's ``LocalEnergyMinimizer`` (L-BFGS inside OpenMM's C++ code, no Python call per
        step): measured 2-4x faster than ASE's BFGS or LBFGS driving :meth:`calculator` (W10 0.4 s
        against 1.4 s, W20 1.7 s against 4-6 s, from the same random starts). ``tolerance``
        is the RMS force (kcal/mol/Angstrom) at which it stops; ``max_iterations`` 0 means no limit.
        The energy is relative to relaxed monomers, in kcal/mol. OpenMM's errors (e.g. induced
        dipoles that do not converge in a polarization catastrophe) propagate as ``openmm.OpenMMException``.
        """
        ctx = self._cached_context(len(pos) // 3)
        ctx.setPositions(np.asarray(pos, dtype=np.float64) * unit.angstrom)
        openmm.LocalEnergyMinimizer.minimize(ctx, tolerance * _KCAL_A, max_iterations)
        state = ctx.getState(getEnergy=True, getPositions=True)
        energy = state.getPotentialEnergy().value_in_unit(_KCAL) - (len(pos) // 3) * self.monomer_energy
        return state.getPositions(asNumpy=True).value_in_unit(unit.angstrom), energy

    def run_md(self, pos: np.ndarray, *, temperature: float, seed: int, equilibration_steps: int, interval_steps: int,
               n_frames: int, timestep_fs: float = 0.5, friction_per_ps: float = 1.0) -> np.ndarray:
        """Langevin MD (OpenMM ``LangevinMiddleIntegrator``) from ``pos``; ``n_frames`` snapshots [n_frames, 3N, 3], Angstrom.

        Velocities are drawn at ``temperature`` (K), the system is equilibrated for
        ``equilibration_steps`` and a frame is taken every ``interval_steps`` after that. ``seed``
        (1 to 2**31-1) fixes velocities and the thermostat noise, so a run is reproducible.
        """
        if not 0 < seed < 2**31:
            raise ValueError(f"seed must be in 1..2**31-1 for OpenMM, got {seed}")
        integrator = openmm.LangevinMiddleIntegrator(temperature * unit.kelvin, friction_per_ps / unit.picosecond,
                                                     timestep_fs * unit.femtosecond)
        integrator.setRandomNumberSeed(seed)
        ctx = self.context(len(pos) // 3, integrator)
        ctx.setPositions(np.asarray(pos, dtype=np.float64) * unit.angstrom)
        ctx.setVelocitiesToTemperature(temperature * unit.kelvin, seed)
        integrator.step(equilibration_steps)
        frames = []
        for _ in range(n_frames):
            integrator.step(interval_steps)
            frames.append(ctx.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.angstrom))
        return np.asarray(frames)


def _energy_forces(ctx: openmm.Context) -> tuple[float, np.ndarray]:
    state = ctx.getState(getEnergy=True, getForces=True)
    return state.getPotentialEnergy().value_in_unit(_KCAL), state.getForces(asNumpy=True).value_in_unit(_KCAL_A)


# --- GFN2-xTB through tblite ---------------------------------------------------------------------


class GFN2xTB(WaterPotential):
    """GFN2-xTB through ``tblite.interface.Calculator``, neutral and closed shell.

    A fresh tblite calculator per structure (no wavefunction reused from a previous one), so a
    result does not depend on the order structures are evaluated in. ``accuracy`` is tblite's
    numerical threshold (smaller is tighter; its default is 1.0).
    """

    name = "GFN2-xTB"

    def __init__(self, accuracy: float = 0.1, max_iterations: int = 250):
        if not accuracy > 0:
            raise ValueError(f"accuracy must be positive, got {accuracy}")
        from tblite.interface import Calculator as _TBLite  # imported here: loads OpenMP, see generate's workers

        self._tblite = _TBLite
        self.accuracy, self.max_iterations = accuracy, max_iterations

    def settings(self) -> dict:
        from importlib.metadata import version

        return {"name": self.name, "library": f"tblite {version('tblite')}", "accuracy": self.accuracy,
                "max_iterations": self.max_iterations, "charge": 0, "unpaired_electrons": 0}

    def total_energy_forces(self, pos: np.ndarray) -> tuple[float, np.ndarray]:
        pos = np.asarray(pos, dtype=np.float64)
        calc = self._tblite("GFN2-xTB", water_numbers(len(pos) // 3), pos / ase_units.Bohr)
        calc.set("verbosity", 0)
        calc.set("accuracy", self.accuracy)
        calc.set("max-iter", self.max_iterations)
        res = calc.singlepoint()
        energy_ev = res.get("energy") * ase_units.Hartree
        forces_ev_a = -res.get("gradient") * (ase_units.Hartree / ase_units.Bohr)
        return ev_to_kcal_mol(energy_ev), ev_to_kcal_mol(forces_ev_a)


# --- TTM2.1-F, optional ----------------------------------------------------------------------------


class TTM21F(WaterPotential):
    """TTM2.1-F, the paper's own potential, for users who built PNNL's TTM library (optional, not on PyPI).

    Expects the f2py wrapper of the TTM Fortran library importable as ``ttm.flib`` with a function
    ``ttm_from_f2py(model, coords)`` taking the model number (21) and coordinates [3, N_atoms] in
    Angstrom ordered all oxygens first, then each molecule's two hydrogens, and returning
    ``(gradient [3, N_atoms], energy)`` in kcal/mol and kcal/mol/Angstrom (TTM's native units).
    That wrapper is the ``ttm`` folder of the HydroNet repository (github.com/exalearn/hydronet),
    built against PNNL's library. Importing is lazy: constructing this class without it raises
    an ImportError that says what is missing. Not exercised by the tests beyond that error.
    """

    name = "TTM2.1-F"

    def __init__(self):
        try:
            from ttm.flib import ttm_from_f2py
        except ImportError as exc:
            raise ImportError(
                "TTM2.1-F needs PNNL's TTM library and its f2py wrapper, importable as 'ttm.flib' "
                "(build the 'ttm' folder of github.com/exalearn/hydronet); use Amoeba() for a PyPI-only stand-in"
            ) from exc
        self._ttm = ttm_from_f2py

    def total_energy_forces(self, pos: np.ndarray) -> tuple[float, np.ndarray]:
        pos = np.asarray(pos, dtype=np.float64)
        n = len(pos) // 3
        order = np.concatenate([np.arange(0, 3 * n, 3), np.arange(3 * n).reshape(n, 3)[:, 1:].ravel()])
        gradient, energy = self._ttm(21, np.asfortranarray(pos[order].T))
        forces = np.empty_like(pos)
        forces[order] = -np.asarray(gradient).T
        return float(energy), forces
