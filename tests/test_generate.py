"""``hydronet-nb generate``: structures, duplicates, broken clusters, chunks, and the whole run with kill and resume."""
import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from hydronet_nb.reference import checks, chunks, sampling
from hydronet_nb.reference import settings as S
from hydronet_nb.reference.cli import parse_sizes
from hydronet_nb.io.pnnl import read_pnnl_hdf5, read_split

DATASETS = ("min", "min_extrapolation", "nonmin", "gfn2xtb")


@pytest.fixture(scope="module")
def amoeba():
    from hydronet_nb.reference.potentials import Amoeba

    return Amoeba()


def _cli(*args, seed=0):
    return [sys.executable, "-m", "hydronet_nb", "generate", "--tiny", "--seed", str(seed), *map(str, args)]


def _env():
    return dict(os.environ, OMP_NUM_THREADS="1")


def _run(*args, seed=0):
    done = subprocess.run(_cli(*args, seed=seed), env=_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _contents(out: Path):
    """Every data set and split of an output folder, as plain arrays."""
    result = {}
    for name in DATASETS:
        clusters = read_pnnl_hdf5(out / f"{name}_data.hdf5")
        result[name] = {
            "pos": [c.pos for c in clusters], "z": [c.z for c in clusters],
            "energy": np.array([c.energy for c in clusters]),
            "forces": [c.forces for c in clusters],
            "split": read_split(out / f"split_00_{name}.npz", len(clusters)),
        }
    return result


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for name in a:
        assert len(a[name]["pos"]) == len(b[name]["pos"]) > 0, name
        np.testing.assert_array_equal(a[name]["energy"], b[name]["energy"])
        for key in ("pos", "z", "forces"):
            for x, y in zip(a[name][key], b[name][key]):
                if x is None or y is None:
                    assert x is None and y is None
                else:
                    np.testing.assert_array_equal(x, y)
        assert a[name]["split"].keys() == b[name]["split"].keys()
        for k in a[name]["split"]:
            np.testing.assert_array_equal(a[name]["split"][k], b[name]["split"][k])


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """A tiny run straight through, on two workers."""
    root = tmp_path_factory.mktemp("straight")
    started = time.perf_counter()
    done = _run("--out", root / "out", "--work", root / "work", "--workers", 2)
    return root, done, time.perf_counter() - started


# --- pieces -------------------------------------------------------------------------------------


def test_allocate_shares_in_proportion_to_size_and_the_full_set_meets_its_targets():
    counts = S.allocate(S.FULL["minima"], S.FULL["sizes"])
    assert sum(counts.values()) == S.FULL["minima"] >= 10_000
    assert counts[25] > counts[10] > counts[3] > 0
    assert counts[25] / counts[5] == pytest.approx(5.0, rel=0.01)
    assert sum(counts[n] for n in range(20, 26)) >= 1000
    assert S.FULL["extrapolation_minima"] >= 300 and set(S.FULL["extrapolation_sizes"]) == set(range(26, 31))
    assert S.FULL["nonminima"] * S.SPLITS["nonmin"][0] >= 5000 and S.FULL["transfer"] == 5000


def test_random_start_places_whole_waters_without_overlaps(amoeba):
    monomer = amoeba.monomer.pos
    pos = sampling.random_start(20, monomer, np.random.default_rng(1))
    mols = pos.reshape(20, 3, 3)
    intra = np.linalg.norm(mols - mols[:, :1], axis=-1)
    np.testing.assert_allclose(intra, np.broadcast_to(np.linalg.norm(monomer - monomer[0], axis=-1), intra.shape), atol=1e-9)
    d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    same = np.kron(np.eye(20), np.ones((3, 3))).astype(bool)
    assert d[~same].min() >= sampling.START_MIN_ATOMS
    oo = np.linalg.norm(mols[:, None, 0] - mols[None, :, 0], axis=-1) + 100 * np.eye(20)
    assert oo.min() >= sampling.START_MIN_OO
    radius = (3 * 20 / (4 * np.pi * sampling.WATER_DENSITY)) ** (1 / 3)
    assert np.linalg.norm(mols[:, 0], axis=1).max() <= radius
    again = sampling.random_start(20, monomer, np.random.default_rng(1))
    np.testing.assert_array_equal(pos, again)


def test_broken_clusters_are_recognised(ttm_minima):
    w8 = next(c for c in ttm_minima if c.n_water == 8).pos.astype(np.float64)
    assert checks.why_broken(w8) is None
    flown = w8.copy()
    flown[21:24] += [12.0, 0.0, 0.0]  # the last molecule leaves
    assert checks.why_broken(flown) == "fragmented"
    split = w8.copy()
    split[1] = split[0] + 1.6 * (split[1] - split[0]) / np.linalg.norm(split[1] - split[0])
    assert checks.why_broken(split) == "dissociated"


def test_duplicates_are_found_whatever_the_order_and_orientation(amoeba, ttm_minima):
    w6 = next(c for c in ttm_minima if c.n_water == 6).pos.astype(np.float64)
    pos6, e6 = amoeba.minimize(w6)
    rng = np.random.default_rng(0)
    mols = pos6.reshape(6, 3, 3)[rng.permutation(6)][:, [0, 2, 1]]  # molecules and hydrogens reordered
    moved = Rotation.random(random_state=rng).apply(mols.reshape(-1, 3)) + [3.0, -1.0, 2.0]
    moved += rng.normal(0, 1e-4, moved.shape)
    refound, e_refound = amoeba.minimize(pos6 + rng.normal(0, 0.3, pos6.shape))  # back into the same basin
    for _ in range(10):  # random starts until one falls into another minimum
        other, e_other = amoeba.minimize(sampling.random_start(6, amoeba.monomer.pos, rng))
        if abs(e_other - e6) > 0.1:
            break
    assert abs(e_other - e6) > 0.1
    keep = checks.unique_indices(np.array([e6, e6 + 1e-4, e_other, e_refound]), [pos6, moved, other, refound])
    assert keep == [0, 2]
    assert checks.unique_indices(np.array([0.0, 0.0]), [pos6, other]) == [0, 1]  # same energy, other structure


def test_chunks_round_trip_and_are_written_atomically(tmp_path):
    chunk = chunks.Chunk(pos=[np.ones((9, 3), np.float32), np.zeros((12, 3), np.float32)], energy=np.array([-1.5, -2.5]),
                      forces=[np.full((9, 3), 0.5), np.full((12, 3), -0.5)], rejected={"fragmented": 2}, attempts=5, seconds=1.25)
    path = tmp_path / "stage" / "03_00007.npz"
    chunks.save_chunk(path, chunk)
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    back = chunks.load_chunk(path)
    assert [p.shape for p in back.pos] == [(9, 3), (12, 3)]
    np.testing.assert_array_equal(back.energy, chunk.energy)
    np.testing.assert_array_equal(back.forces[1], chunk.forces[1])
    assert (back.rejected, back.attempts, back.seconds) == ({"fragmented": 2}, 5, 1.25)


def test_sizes_option_parses_ranges_and_rejects_nonsense():
    assert parse_sizes("3-5,8") == (3, 4, 5, 8)
    assert parse_sizes("26-30") == (26, 27, 28, 29, 30)
    for bad in ("x", "1", "5-3"):
        with pytest.raises(Exception, match="sizes"):
            parse_sizes(bad)


# --- whole runs ---------------------------------------------------------------------------------


def test_tiny_run_writes_every_data_set_in_seconds(uninterrupted):
    root, done, seconds = uninterrupted
    out = root / "out"
    print(f"tiny run on 2 workers: {seconds:.1f} s")
    assert seconds < 40
    data = _contents(out)
    minima = data["min"]
    sizes = [len(z) // 3 for z in minima["z"]]
    assert set(sizes) == set(S.TINY["sizes"])
    # the walks find fewer distinct W3 minima than W3's share: the shortfall went to the larger sizes
    assert sizes.count(3) < S.allocate(S.TINY["minima"], S.TINY["sizes"])[3]
    assert len(sizes) == S.TINY["minima"]
    assert np.all(minima["energy"] < 0)  # bound clusters, relative to relaxed monomers
    assert {len(z) // 3 for z in data["min_extrapolation"]["z"]} == set(S.TINY["extrapolation_sizes"])
    assert len(data["nonmin"]["pos"]) == S.TINY["nonminima"]
    assert all(np.abs(f).max() > 0.1 for f in data["nonmin"]["forces"])  # MD snapshots are not minima
    assert len(data["gfn2xtb"]["pos"]) == S.TINY["transfer"]
    # the transfer set is minima of the min set, with other energies
    for pos, e in zip(data["gfn2xtb"]["pos"], data["gfn2xtb"]["energy"]):
        match = [i for i, p in enumerate(minima["pos"]) if p.shape == pos.shape and np.array_equal(p, pos)]
        assert len(match) == 1 and e != minima["energy"][match[0]]
    for name, d in data.items():  # splits partition the data set
        parts = np.concatenate([v for v in d["split"].values()])
        assert sorted(parts.tolist()) == list(range(len(d["pos"]))), name
    card = (out / "DATASET.md").read_text()
    for name in DATASETS:
        for f in (f"{name}_data.hdf5", f"split_00_{name}.npz"):
            assert hashlib.sha256((out / f).read_bytes()).hexdigest() in card
    assert "openmm 8" in card and "tblite" in card and "--tiny" in card and "TTM21F" in card
    assert re.search(r"Wall time of this invocation: [0-9.]+ s", card)


def test_killed_run_resumes_to_the_same_data(uninterrupted, tmp_path):
    out, work = tmp_path / "out", tmp_path / "work"
    proc = subprocess.Popen(_cli("--out", out, "--work", work, "--workers", 1), env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while not list(work.glob("min/*.npz")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    present = sorted(work.rglob("*.npz"))
    all_chunks = list((uninterrupted[0] / "work").rglob("*.npz"))
    assert 1 <= len(present) < len(all_chunks), "the kill came before the first chunk or after the last"
    assert not (out / "DATASET.md").exists()
    stamps = {p: p.stat().st_mtime_ns for p in present}

    done = _run("--out", out, "--work", work, "--workers", 1)
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())  # finished chunks were not redone
    reused = int(re.search(r"\((\d+) chunks reused", (out / "DATASET.md").read_text()).group(1))
    assert reused == len(present)
    assert len(list(work.rglob("*.npz"))) == len(all_chunks) and not list(work.rglob(".*.tmp"))
    assert "kept" in done.stdout
    _assert_same(_contents(out), _contents(uninterrupted[0] / "out"))  # and one worker gives what two gave
    for name in DATASETS:  # byte for byte
        for f in (f"{name}_data.hdf5", f"split_00_{name}.npz"):
            assert (out / f).read_bytes() == (uninterrupted[0] / "out" / f).read_bytes(), f


def test_another_seed_gives_other_data_and_a_changed_work_folder_is_refused(uninterrupted, tmp_path):
    root = uninterrupted[0]
    _run("--out", tmp_path / "out", "--work", tmp_path / "work", "--workers", 2, seed=1)
    a, b = _contents(root / "out")["min"], _contents(tmp_path / "out")["min"]
    assert not np.array_equal(np.sort(a["energy"]), np.sort(b["energy"]))
    refused = subprocess.run(_cli("--out", tmp_path / "o2", "--work", root / "work", seed=1), env=_env(),
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "settings.json" in refused.stderr and "settings" in refused.stderr


def test_impossible_options_are_clear_errors(tmp_path):
    done = subprocess.run(_cli("--out", tmp_path / "o", "--minima", 3, "--transfer", 5), env=_env(),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--transfer 5" in done.stderr and "--minima 3" in done.stderr
    assert not (tmp_path / "o").exists()
