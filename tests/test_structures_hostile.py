"""Hostile structures: overlapping atoms, coordinates in the wrong unit, broken molecules, empty and periodic
structures, non-water, and comment lines that are not a documented energy. Each ends in a StructureError naming
the source (file and frame, or the calculator's formula) before a model sees it; reference energies come only
from the documented forms (hypothesis where the input varies)."""
import functools
import os

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hydronet_nb.cli import main
from hydronet_nb.data.clusters import ClusterSet
from hydronet_nb.data.water import ClusterFormatError, StructureError, check_structure
from hydronet_nb.evaluate.predict import check_structures, predict
from hydronet_nb.io.reference_files import GRAPHCORE_MD_RUNS, fetch, ttm21f_minima_paths
from hydronet_nb.io.xyz import ReferenceEnergyWarning, energy_from_comment, read_xyz_clusters
from hydronet_nb.model.calculator import SchNetCalculator
from hydronet_nb.model.loading import load_model
from hydronet_nb.units import ev_to_kcal_mol

CASES = settings(max_examples=int(os.environ.get("HYDRONET_NB_FUZZ_EXAMPLES", 60)), deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])


@functools.lru_cache(maxsize=1)
def minima():
    """The real TTM2.1-F global minima W3-W15 (read once; hypothesis cannot take session fixtures)."""
    return [c for p in ttm21f_minima_paths() for c in read_xyz_clusters(p)]


@pytest.fixture(scope="module")
def model():
    return load_model("pretrained")


def xyz_text(z, pos, comment=""):
    lines = [str(len(z)), comment]
    lines += [f"{'O' if a == 8 else 'H'} {x:.8f} {y:.8f} {w:.8f}" for a, (x, y, w) in zip(z, pos)]
    return "\n".join(lines) + "\n"


def predict_cli(capsys, *argv):
    code = main(["predict", "--model", "pretrained", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


# --- the data the book reads passes -----------------------------------------------------------------------

def test_every_real_structure_passes():
    """The real minima and the embedded data (hot MD non-minima included) pass the checks: no false alarms."""
    from hydronet_nb.io.pnnl import read_pnnl_hdf5
    from hydronet_nb.utils.resources import RESOURCES_DIR

    check_structures(ClusterSet.from_clusters(minima()))
    for name in ("min_data.hdf5", "nonmin_data.hdf5", "min_extrapolation_data.hdf5"):
        check_structures(read_pnnl_hdf5(RESOURCES_DIR / "embedded" / name))
    # the published trajectories hold broken clusters (O-H up to 8 A): read as trajectories, they are not refused
    frames = read_xyz_clusters(fetch(f"graphcore-w10-md-{GRAPHCORE_MD_RUNS[1]}"), regroup=False)
    assert len(frames) == 101
    with pytest.raises(StructureError, match="frame"):
        read_xyz_clusters(fetch(f"graphcore-w10-md-{GRAPHCORE_MD_RUNS[1]}"), regroup=False, structure_checks=True)


# --- overlapping atoms ------------------------------------------------------------------------------------

@CASES
@given(st.integers(0, 12), st.integers(0, 10 ** 6), st.integers(0, 10 ** 6),
       st.tuples(*[st.floats(-0.2, 0.2)] * 3))
def test_overlapping_atoms_are_refused_by_name(k, i, j, offset):
    c = minima()[k]
    i, j = i % c.n_atoms, j % c.n_atoms
    if i == j:
        j = (j + 1) % c.n_atoms
    pos = c.pos.astype(np.float64).copy()
    pos[i] = pos[j] + np.asarray(offset)
    with pytest.raises(StructureError) as err:
        check_structure(c.z, pos, "moved.xyz frame 4")
    assert "moved.xyz frame 4" in str(err.value) and "overlapping atoms" in str(err.value)
    assert "--no-structure-checks" in str(err.value)


def test_overlap_through_predict_names_file_and_frame_and_the_override_passes(tmp_path, capsys):
    w4 = minima()[1]
    pos = w4.pos.astype(np.float64).copy()
    pos[5] = pos[0] + 0.05
    path = tmp_path / "two.xyz"
    path.write_text(xyz_text(w4.z, w4.pos, "-1.0") + xyz_text(w4.z, pos, "-1.0"))
    code, out, err = predict_cli(capsys, path)
    assert code == 2 and out == ""
    assert err.startswith("hydronet-nb: error: ") and err.count("\n") == 1
    assert "two.xyz frame 1" in err and "overlapping atoms" in err
    code, out, err = predict_cli(capsys, "--no-structure-checks", "--csv", path)
    assert code == 0 and len(out.strip().splitlines()) == 3  # the expert's override reaches the model
    pos[5] = pos[0]  # exactly on top of each other: the model's forces are NaN, which is an error, never a blank
    path.write_text(xyz_text(w4.z, pos, "-1.0"))
    code, out, err = predict_cli(capsys, "--no-structure-checks", path)
    assert code == 2 and out == "" and "two.xyz: the model gave a non-finite energy or force" in err


# --- units ------------------------------------------------------------------------------------------------

UNITS = {1 / 0.529177: "in Bohr", 0.1: "in nm", 0.529177: "as if they were Bohr", 10.0: "as if they were nm",
         100.0: "in pm"}


@CASES
@given(st.integers(0, 12), st.sampled_from(sorted(UNITS)), st.floats(0.97, 1.03),
       st.tuples(*[st.floats(-50, 50)] * 3))
def test_coordinates_in_another_unit_are_named(k, factor, jitter, shift):
    c = minima()[k]
    pos = (c.pos.astype(np.float64) - c.pos.mean(axis=0)) * factor * jitter + np.asarray(shift)
    with pytest.raises(StructureError) as err:
        check_structure(c.z, pos, "units.xyz")
    message = str(err.value)
    assert message.startswith("units.xyz: the O-H bonds are") and UNITS[factor] in message and "spans" in message


def test_bohr_file_gives_no_regrouping_warning(tmp_path, capsys):
    w10 = minima()[7]
    path = tmp_path / "bohr.xyz"
    path.write_text(xyz_text(w10.z, w10.pos / 0.529177, str(w10.energy)))
    code, out, err = predict_cli(capsys, path)
    assert code == 2 and "coordinates in Bohr" in err and "bohr.xyz" in err and "regrouped" not in err


# --- broken molecules, non-water, empty, periodic ---------------------------------------------------------

def test_a_stretched_bond_and_a_close_contact_are_named():
    from hydronet_nb.data.water import MONOMER, water_numbers

    pos = MONOMER.copy()
    pos[1] *= 1.45 / np.linalg.norm(pos[1])
    with pytest.raises(StructureError, match=r"w1: the H at atom 2 is 1.450 Angstrom from its nearest O \(at atom 1"):
        check_structure(water_numbers(1), pos, "w1")
    w3 = minima()[0]
    pos = w3.pos.astype(np.float64).copy()
    pos[3:6] += pos[1] - pos[3] + np.array([0.0, 0.0, 0.8])  # molecule 2's O 0.8 A from molecule 1's H
    with pytest.raises(StructureError, match="not an O-H bond|cannot group"):
        check_structure(w3.z, pos, "w3")


@pytest.mark.parametrize("atoms, message", [
    (molecule("CH4"), "atomic number 6; only O and H"),
    (Atoms("O", positions=[[0, 0, 0]]), "1 atoms with 1 O and 0 H is not water"),
    (Atoms("OH", positions=[[0, 0, 0], [0.97, 0, 0]]), "is not water"),
    (Atoms(), "no atoms"),
])
def test_calculator_refuses_what_is_not_water(model, atoms, message):
    for checks in (True, False):  # the override is for geometry only
        atoms.calc = SchNetCalculator(model, structure_checks=checks)
        with pytest.raises(StructureError, match=message):
            atoms.get_potential_energy()


def test_calculator_refuses_a_periodic_cell_and_overlaps_unless_overridden(model):
    water = molecule("H2O")
    water.set_cell([12.0, 12.0, 12.0])
    water.pbc = True
    water.calc = SchNetCalculator(model)
    with pytest.raises(StructureError, match="periodic cell"):
        water.get_potential_energy()
    water.pbc = False  # a cluster in a box is fine
    assert np.isfinite(water.get_potential_energy())
    bad = Atoms("OHH", positions=[[0, 0, 0], [0.96, 0, 0], [0.01, 0, 0]])
    bad.calc = SchNetCalculator(model)
    with pytest.raises(StructureError, match="overlapping"):
        bad.get_potential_energy()
    bad.calc = SchNetCalculator(model, structure_checks=False)
    bad.get_potential_energy()  # the expert asked


def test_calculator_checks_each_new_structure_but_not_the_moves_of_one(model):
    calc = SchNetCalculator(model)
    good = molecule("H2O")
    good.calc = calc
    good.get_potential_energy()
    other = good.copy()
    other.positions[2] = other.positions[0] + 0.02  # another Atoms object, same formula: checked
    other.calc = calc
    with pytest.raises(StructureError, match="overlapping"):
        other.get_potential_energy()
    good.positions[1] *= 1.6  # the same object moved (a dynamics, a line search): the run decides
    assert np.isfinite(good.get_potential_energy())


def test_empty_inputs(tmp_path, model):
    with pytest.raises(StructureError, match="no structures"):
        predict(model, [])
    (tmp_path / "zero.xyz").write_text("0\n\n")
    with pytest.raises(ClusterFormatError, match="zero.xyz: line 1: atom count 0"):
        read_xyz_clusters(tmp_path / "zero.xyz")


# --- reference energies only from the documented forms ----------------------------------------------------

WORDS = st.sampled_from(["written", "by", "step", "frame", "E", "energy", "kcal/mol", "eV", "time", "3", "-94.67",
                         "0.0", "1e-3", "t=", "T", "W10", "#", "run", "seed", "12", "converged"])
UNDOCUMENTED = st.one_of(
    st.lists(WORDS, min_size=3, max_size=8).map(" ".join),
    st.tuples(st.sampled_from(["step", "frame", "E", "energy", "time", "run", "#"]),
              st.floats(-1e3, 1e3, allow_nan=False)).map(lambda t: f"{t[0]} {t[1]}"),
    st.tuples(st.sampled_from(['Lattice="20 0 0 0 20 0 0 0 20" pbc="F F F"', "Properties=species:S:1:pos:R:3",
                               'pbc="F F F" step=3', "time=1.5 temperature=300"]),
              st.floats(-1e3, 1e3, allow_nan=False)).map(lambda t: f"{t[0]} free_energy_shift={t[1]}"),
)


@CASES
@given(UNDOCUMENTED)
def test_random_comment_lines_never_give_a_reference(tmp_path_factory, comment):
    assert energy_from_comment(comment) is None
    w3 = minima()[0]
    path = tmp_path_factory.mktemp("comments") / "c.xyz"
    path.write_text(xyz_text(w3.z, w3.pos, comment))
    with _at_most_one_reference_warning():
        (c,) = read_xyz_clusters(path)
    assert c.energy is None


class _at_most_one_reference_warning:
    """A comment holding numbers warns once (ReferenceEnergyWarning); one without numbers need not."""

    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings(record=True)
        self.caught = self._ctx.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        self._ctx.__exit__(*exc)
        assert all(issubclass(w.category, ReferenceEnergyWarning) for w in self.caught)
        assert len(self.caught) <= 1


@CASES
@given(st.floats(-1e4, 1e4, allow_nan=False), st.sampled_from(["{e}", "  {e}   ", "W10_000017 {e}", "min-0017 {e}"]))
def test_documented_comment_forms_give_the_energy(energy, form):
    assert energy_from_comment(form.format(e=repr(energy))) == pytest.approx(energy)
    assert energy_from_comment(f"17 {energy!r}") is None  # two numbers: which one is the energy is a guess


def test_the_lattice_and_step_comments_of_the_issue(tmp_path, capsys):
    w3 = minima()[0]
    for name, comment in [("lattice.xyz", 'Lattice="10 0 0 0 10 0 0 0 10" Properties=species:S:1:pos:R:3 pbc="F F F"'),
                          ("step.xyz", "written by step 3")]:
        (tmp_path / name).write_text(xyz_text(w3.z, w3.pos, comment))
    code, out, err = predict_cli(capsys, "--csv", tmp_path / "lattice.xyz", tmp_path / "step.xyz")
    assert code == 0
    rows = out.strip().splitlines()[1:]
    assert len(rows) == 2 and all(",," in r for r in rows)  # no reference, no error column
    assert "step.xyz: line 2" in err and "no reference energy" in err


def test_periodic_extended_xyz_is_refused(tmp_path):
    w3 = minima()[0]
    path = tmp_path / "box.xyz"
    path.write_text(xyz_text(w3.z, w3.pos, 'Lattice="10 0 0 0 10 0 0 0 10" Properties=species:S:1:pos:R:3 energy=-1.0'))
    with pytest.raises(StructureError, match="box.xyz: line 2: a periodic cell"):
        read_xyz_clusters(path)


def test_extended_xyz_energy_is_ev_as_md_writes_it(tmp_path):
    """``md``'s frames.xyz: ASE's extended xyz, energy in eV (forces and momenta too): read back in kcal/mol."""
    w10 = minima()[7]
    path = tmp_path / "frames.xyz"
    for k, e_ev in enumerate([-4.1, -4.05]):
        atoms = Atoms(numbers=w10.z, positions=w10.pos.astype(np.float64), momenta=np.zeros((w10.n_atoms, 3)))
        atoms.calc = SinglePointCalculator(atoms, energy=e_ev, forces=np.full((w10.n_atoms, 3), 0.1))
        with open(path, "a") as f:
            write(f, atoms, format="extxyz")
    frames = read_xyz_clusters(path, regroup=False)
    assert [f.energy for f in frames] == pytest.approx([ev_to_kcal_mol(-4.1), ev_to_kcal_mol(-4.05)])
    np.testing.assert_allclose(frames[1].pos, w10.pos, atol=1e-6)


def test_real_files_keep_their_references():
    assert [round(c.energy, 4) for c in minima()[:2]] == [-15.9416, -27.6243]
    assert all(f.energy is None for f in read_xyz_clusters(fetch("graphcore-w10-md-ttm"), regroup=False))
