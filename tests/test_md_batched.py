"""The batched Berendsen integrator against ASE's NVTBerendsen, and the failure detector on broken clusters."""
import numpy as np
import pytest
import torch
from ase import units
from ase.md.nvtberendsen import NVTBerendsen
from ase.md.velocitydistribution import thermalize_momenta

from hydronet_nb import load_model
from hydronet_nb.data.clusters import to_atoms
from hydronet_nb.io.reference_files import ttm21f_minima_paths
from hydronet_nb.io.xyz import read_xyz_clusters
from hydronet_nb.md.batched import BatchedBerendsen
from hydronet_nb.md.stability import Criteria, first_failure, frame_measures
from hydronet_nb.model.calculator import SchNetCalculator


@pytest.fixture(scope="module")
def w10():
    (cluster,) = read_xyz_clusters(ttm21f_minima_paths([10])[0])
    return cluster


def start(cluster, seed):
    atoms = to_atoms(cluster)
    rng = np.random.default_rng(seed)
    atoms.positions += rng.normal(scale=0.01, size=atoms.positions.shape)
    thermalize_momenta(atoms, temperature_K=300, rng=rng)
    return atoms


def test_one_replica_follows_ase_for_100_steps(w10):
    torch.set_num_threads(1)
    model = load_model("pretrained")
    atoms = [start(w10, seed) for seed in range(3)]
    batched = BatchedBerendsen(model, atoms[0].numbers, np.stack([a.positions for a in atoms]),
                               np.stack([a.get_momenta() for a in atoms]))
    ase_atoms = atoms[0].copy()
    ase_atoms.calc = SchNetCalculator(model)
    NVTBerendsen(ase_atoms, 0.1 * units.fs, temperature_K=300, taut=500 * units.fs).run(100)
    batched.run(100)
    assert batched.alive.all() and batched.steps == 100
    assert np.abs(batched.pos[0].numpy() - ase_atoms.positions).max() < 1e-5
    assert batched.temperatures()[0].item() == pytest.approx(ase_atoms.get_temperature(), rel=1e-4)
    assert not np.allclose(batched.pos[1].numpy(), batched.pos[0].numpy(), atol=1e-3)  # seeds differ


def test_a_replica_that_breaks_is_frozen_and_the_others_go_on(w10):
    model = load_model("pretrained")
    atoms = [start(w10, seed) for seed in range(2)]
    pos = np.stack([a.positions for a in atoms])
    batched = BatchedBerendsen(model, atoms[0].numbers, pos, np.stack([a.get_momenta() for a in atoms]))
    criteria = Criteria()

    def stop(positions, rows):  # replica 1 "breaks" at step 3
        return [batched.steps >= 3 and r == 1 for r in rows]

    batched.run(5, stop=stop)
    assert batched.alive.tolist() == [True, False]
    frozen = batched.pos[1].clone()
    batched.run(2, stop=stop)
    assert torch.equal(batched.pos[1], frozen)
    assert criteria.broken(frame_measures(batched.pos[0].numpy())) is None
    nan = BatchedBerendsen(model, atoms[0].numbers, np.where(np.arange(2)[:, None, None] == 1, np.nan, pos),
                           np.stack([a.get_momenta() for a in atoms]))
    assert nan.alive.tolist() == [True, False]  # a NaN start is stopped, not a crash
    nan.run(2)
    assert np.isfinite(nan.pos[0].numpy()).all()


def test_failure_detector_on_hand_made_broken_clusters(w10):
    criteria = Criteria()
    intact = frame_measures(w10.pos)
    assert criteria.broken(intact) is None and intact["pieces"] == 1
    assert 0.9 < intact["max_oh"] < 1.05 and 95 < intact["min_hoh"] <= intact["max_hoh"] < 115
    stretched = w10.pos.astype(float).copy()
    stretched[1] = stretched[0] + 2.0 * (stretched[1] - stretched[0])  # an O-H twice as long
    assert "O-H bond" in criteria.broken(frame_measures(stretched))
    apart = w10.pos.astype(float).copy()
    apart[:3] += np.array([20.0, 0.0, 0.0])  # one molecule leaves
    m = frame_measures(apart)
    assert m["pieces"] == 2 and "2 pieces" in criteria.broken(m)
    squeezed = w10.pos.astype(float).copy()
    squeezed[3:6] += squeezed[0] - squeezed[3] + np.array([1.5, 0, 0])  # two oxygens 1.5 A apart
    assert "O...O" in criteria.broken(frame_measures(squeezed))
    bad = w10.pos.astype(float).copy()
    bad[4, 1] = np.nan
    assert criteria.broken(frame_measures(bad)) == "positions or forces not finite"
    frames = [intact, intact, frame_measures(stretched), frame_measures(bad)]
    assert first_failure(frames, criteria)[0] == 2
    assert first_failure([intact] * 3, criteria) == (None, None)


def test_nve_replica_follows_ase_velocity_verlet(w10):
    from ase.md.verlet import VelocityVerlet

    torch.set_num_threads(1)
    model = load_model("finetuned")
    atoms = start(w10, 3)
    batched = BatchedBerendsen(model, atoms.numbers, atoms.positions[None], atoms.get_momenta()[None], taut_fs=None)
    ase_atoms = atoms.copy()
    ase_atoms.calc = SchNetCalculator(model)
    VelocityVerlet(ase_atoms, 0.1 * units.fs).run(100)
    batched.run(100)
    assert np.abs(batched.pos[0].numpy() - ase_atoms.positions).max() < 1e-5


def test_analysis_by_hand(w10):
    import pandas as pd

    from hydronet_nb.data.clusters import to_atoms
    from hydronet_nb.md import analysis

    runs = pd.DataFrame({"model": ["a", "a", "b"], "size": [10, 10, 10], "failed_fs": [5.0, None, 1.0]})
    s = analysis.survival(runs, [0, 2, 6])
    assert s.query("model == 'a'")["intact_fraction"].tolist() == [1.0, 1.0, 0.5]
    assert s.query("model == 'b'")["intact_fraction"].tolist() == [1.0, 0.0, 0.0]
    atoms = to_atoms(w10)
    moved = atoms.copy()
    moved.positions[:3] += [30.0, 0, 0]  # one molecule far away: its oxygen and hydrogens change neighbours
    switches = analysis.knn_switches([atoms, atoms, moved], k=28)
    assert switches[0] == 0 and switches[1] > 0
    assert len(analysis.distances([atoms], "O-H")) == 20 and len(analysis.distances([atoms], "O...O")) == 45
    table = pd.DataFrame({"time_fs": [0.0, 500.0, 1000.0], "energy": [-10.0, -10.5, -11.0], "temperature": [0.0] * 3})
    assert analysis.drift(table, 30)["drift_per_ps"] == pytest.approx(-1.0)
