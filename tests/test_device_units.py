import numpy as np
import pytest
import torch

from hydronet_nb import device as ipu  # IPU detection lives in hydronet_nb.device
from hydronet_nb.data.clusters import from_atoms, to_atoms
from hydronet_nb.device import select_device
from hydronet_nb.model.calculator import SchNetCalculator, relax
from hydronet_nb.model.schnet import energy_and_forces
from hydronet_nb.units import KCAL_MOL_PER_EV, ev_to_kcal_mol, kcal_mol_to_ev


def test_without_poptorch_the_choice_is_cuda_or_cpu():
    assert ipu.poptorch_module() is None and ipu.ipu_count() == 0
    choice = select_device()
    assert choice.kind == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(RuntimeError, match="poptorch is not importable"):
        select_device("ipu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="torch.cuda.is_available"):
            select_device("cuda")
    with pytest.raises(ValueError, match="device must be one of"):
        select_device("tpu")


def test_unit_conversions_agree_with_the_definition():
    # 1 kcal = 4184 J; 1 eV = 1.602176634e-19 J; N_A = 6.02214076e23 / mol
    assert KCAL_MOL_PER_EV == pytest.approx(1.602176634e-19 * 6.02214076e23 / 4184, rel=1e-6)
    assert ev_to_kcal_mol(kcal_mol_to_ev(-94.68)) == pytest.approx(-94.68)


def test_ase_calculator_returns_the_model_in_ev(published_model, ttm_minima):
    w6 = ttm_minima[3]
    atoms = to_atoms(w6)
    atoms.calc = SchNetCalculator(published_model)
    z, pos = torch.as_tensor(w6.z), torch.as_tensor(w6.pos)
    e, f = energy_and_forces(published_model, z, pos)
    assert atoms.get_potential_energy() == pytest.approx(kcal_mol_to_ev(float(e)), rel=1e-6)
    np.testing.assert_allclose(atoms.get_forces(), kcal_mol_to_ev(f.double().numpy()), rtol=1e-5, atol=1e-7)
    back = from_atoms(atoms)
    assert back.energy == pytest.approx(float(e), rel=1e-6)


def test_relaxation_goes_downhill(published_model, ttm_minima):
    start = ttm_minima[1]
    relaxed, energies = relax(start, SchNetCalculator(published_model), fmax=1.0, steps=30)
    assert energies[-1] < energies[0]
    assert relaxed.energy == pytest.approx(energies[-1], abs=1e-4)
    assert len(energies) <= 31
    if len(energies) < 31:  # stopped early, so it converged: every force under fmax
        assert np.linalg.norm(relaxed.forces, axis=1).max() < 1.0
