"""PNNL HDF5 files and split files: round trips, the release's layout, and every refusal."""
import os

import h5py
import numpy as np
import pytest

from hydronet_nb.data.clusters import Cluster
from hydronet_nb.io.pnnl import (
    PNNLFormatError,
    read_pnnl_hdf5,
    read_split,
    write_pnnl_hdf5,
    write_split,
)


@pytest.fixture
def clusters(ttm_minima):
    """The real minima W3-W15, each with (made-up, seeded) forces so the gradient field is exercised."""
    rng = np.random.default_rng(7)
    return [
        Cluster(z=c.z, pos=c.pos, energy=c.energy, forces=rng.normal(0, 3, c.pos.shape).astype(np.float32), source=c.source)
        for c in ttm_minima
    ]


@pytest.fixture
def good_file(tmp_path, clusters):
    path = tmp_path / "nonmin_data.hdf5"
    write_pnnl_hdf5(path, clusters, pad_to=90)
    return path


def edit(path, name, change):
    """Replace dataset ``name`` of ``path`` by ``change(its array)``."""
    with h5py.File(path, "r+") as h5:
        arr = change(h5[name][()])
        del h5[name]
        if arr is not None:
            h5.create_dataset(name, data=arr)


def set_value(index, value):
    def change(arr):
        arr[index] = value
        return arr

    return change


def test_round_trip_is_bit_exact_and_stores_the_gradient(good_file, clusters):
    back = read_pnnl_hdf5(good_file)
    assert len(back) == len(clusters)
    for i, (a, b) in enumerate(zip(clusters, back)):
        assert b.pos.dtype == np.float32 and np.array_equal(a.pos, b.pos)
        assert np.array_equal(a.z, b.z) and b.z.dtype == np.int64
        assert b.energy == a.energy
        assert np.array_equal(b.forces, a.forces)
        assert b.source == f"{good_file} row {i}" and b.info["row"] == i
    with h5py.File(good_file) as h5:
        assert h5["z"].dtype == np.uint8 and h5["z"].shape == (len(clusters), 90)
        assert h5["pos"].dtype == np.float32 and h5["f"].dtype == np.float32
        assert list(h5["size"][()]) == [c.n_water for c in clusters]
        k = clusters[3].n_atoms
        np.testing.assert_array_equal(h5["f"][3, :k], -clusters[3].forces)  # f is dE/dx = -forces
        assert not h5["z"][3, k:].any() and not h5["f"][3, k:].any()  # padding


def test_array_form_counts_sizes_without_building_clusters(good_file, clusters):
    ds = read_pnnl_hdf5(good_file)  # a ClusterSet: flat arrays without the padding, clusters on demand
    assert len(ds) == len(clusters)
    assert ds.counts_per_size() == {c.n_water: 1 for c in clusters}
    assert ds.pos.shape == (sum(c.n_atoms for c in clusters), 3) and ds.energy.dtype == np.float64
    np.testing.assert_array_equal(ds.forces[:9], clusters[0].forces)
    assert ds[-1].n_water == clusters[-1].n_water


def test_pad_defaults_to_largest_cluster_and_forces_are_optional(tmp_path, ttm_minima):
    path = tmp_path / "minima.hdf5"
    write_pnnl_hdf5(path, ttm_minima)
    with h5py.File(path) as h5:
        assert "f" not in h5
        assert h5["z"].shape[1] == max(c.n_atoms for c in ttm_minima)
    back = read_pnnl_hdf5(path)
    assert all(c.forces is None for c in back)
    assert [c.energy for c in back] == [c.energy for c in ttm_minima]


def test_reads_the_release_layout(tmp_path, ttm_minima):
    """The release stores y and size as [n, 1] (float32, uint8) and adds a one-hot x."""
    path = tmp_path / "release.hdf5"
    n, pad = len(ttm_minima), 90
    z, pos = np.zeros((n, pad), np.uint8), np.zeros((n, pad, 3), np.float32)
    for i, c in enumerate(ttm_minima):
        z[i, : c.n_atoms], pos[i, : c.n_atoms] = c.z, c.pos
    with h5py.File(path, "w") as h5:
        h5["z"], h5["pos"], h5["f"] = z, pos, np.ones((n, pad, 3), np.float32) * (z > 0)[..., None]
        h5["y"] = np.array([[c.energy] for c in ttm_minima], np.float32)
        h5["size"] = np.array([[c.n_water] for c in ttm_minima], np.uint8)
        h5["x"] = np.stack([z == 1, z == 8], axis=-1).astype(np.uint8)
    back = read_pnnl_hdf5(path)
    assert [c.n_water for c in back] == [c.n_water for c in ttm_minima]
    assert [c.energy for c in back] == [float(np.float32(c.energy)) for c in ttm_minima]
    assert (back[0].forces == -1).all()


def test_writer_refuses_mixed_forces_missing_energy_and_small_pad(tmp_path, clusters, ttm_minima):
    path = tmp_path / "out.hdf5"
    with pytest.raises(PNNLFormatError, match=r"out.hdf5 .*row 1 .*has no forces"):
        write_pnnl_hdf5(path, [clusters[0], ttm_minima[1]])
    no_energy = Cluster(z=ttm_minima[0].z, pos=ttm_minima[0].pos, source="w3 copy")
    with pytest.raises(PNNLFormatError, match=r"row 1 \(w3 copy\): no energy; field 'y'"):
        write_pnnl_hdf5(path, [ttm_minima[0], no_energy])
    with pytest.raises(PNNLFormatError, match=r"row 12 .* 45 atoms, more than pad_to=30"):
        write_pnnl_hdf5(path, ttm_minima, pad_to=30)
    reversed_w3 = Cluster(z=ttm_minima[0].z[::-1].copy(), pos=ttm_minima[0].pos[::-1].copy(), energy=-15.0, source="reversed w3")
    with pytest.raises(PNNLFormatError, match=r"row 1 \(reversed w3\): atom 1 breaks the O H H order"):
        write_pnnl_hdf5(path, [ttm_minima[0], reversed_w3])
    hartree = Cluster(z=ttm_minima[2].z, pos=ttm_minima[2].pos, energy=-76.43 * 5)
    with pytest.raises(PNNLFormatError, match=r"row 1: field 'y' .*looks like hartree"):
        write_pnnl_hdf5(path, [ttm_minima[0], hartree])
    assert not path.exists()


def test_write_is_atomic(tmp_path, ttm_minima, monkeypatch):
    path = tmp_path / "data.hdf5"
    write_pnnl_hdf5(path, ttm_minima[:2])
    before = path.read_bytes()
    real = h5py.Group.create_dataset

    def fail_on_y(self, name, *args, **kwargs):
        if name == "y":
            raise RuntimeError("disk full")
        return real(self, name, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_dataset", fail_on_y)
    with pytest.raises(RuntimeError, match="disk full"):
        write_pnnl_hdf5(path, ttm_minima)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["data.hdf5"]  # no temporary file left behind


@pytest.mark.parametrize(
    "name, change, match",
    [
        ("size", lambda a: None, r"missing field\(s\) 'size'"),
        ("y", lambda a: a[:-1], r"field 'y' has shape \(12,\); expected \(13,\)"),
        ("pos", lambda a: a[:, :60], r"field 'pos' has shape \(13, 60, 3\); expected \(13, 90, 3\)"),
        ("z", set_value((2, 4), 6), r"row 2 \(field 'z'\): atom 5 has atomic number 6; only O and H"),
        ("z", set_value((2, slice(0, 3)), [1, 8, 1]), r"row 2 \(field 'z'\): atom 1 breaks the O H H order"),
        ("z", set_value((1, 12), 8), r"row 1: field 'size' = 4 waters \(12 atoms\) but field 'z' has atom 13 = 8 after them"),
        ("z", set_value((1, 3), 0), r"row 1: field 'size' = 4 waters \(12 atoms\) but field 'z' has atom 4 = 0 \(padding\) among"),
        ("size", set_value(5, 31), r"row 5: field 'size' = 31 waters does not fit rows of 90 atoms"),
        ("pos", set_value((3, 0, 1), np.nan), r"row 3: field 'pos' of atom 1 is not finite"),
        ("f", set_value((0, 8, 2), np.inf), r"row 0: field 'f' of atom 9 is not finite"),
        ("y", set_value(2, np.nan), r"row 2: field 'y' is not finite"),
        ("y", set_value(4, -76.43 * 7), r"row 4: field 'y' = -535.01 for 7 waters .*looks like hartree"),
        ("y", set_value(4, -2079.6 * 7), r"row 4: .*looks like eV"),
        ("y", set_value(4, -47960.0 * 7), r"row 4: .*absolute, not relative to isolated monomers"),
        ("y", set_value(4, -200600.0 * 7), r"row 4: .*looks like kJ/mol"),
        ("y", set_value(4, 400.0), r"row 4: .*is not a binding energy in kcal/mol"),
        ("z", lambda a: a.astype(np.float32), r"field 'z' has dtype float32; expected integers"),
    ],
)
def test_reader_names_file_row_and_field(good_file, name, change, match):
    edit(good_file, name, change)
    with pytest.raises(PNNLFormatError, match=str(good_file) + r".*" + match):
        read_pnnl_hdf5(good_file)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.hdf5: no such file"):
        read_pnnl_hdf5(tmp_path / "nowhere.hdf5")
    (tmp_path / "text.hdf5").write_text("not hdf5")
    with pytest.raises(PNNLFormatError, match="text.hdf5: not a readable HDF5 file"):
        read_pnnl_hdf5(tmp_path / "text.hdf5")


def test_split_round_trip(tmp_path):
    path = tmp_path / "split_00_nonmin.npz"
    write_split(path, train_idx=[4, 0, 7], val_idx=np.array([1, 2], np.int32), test_idx=[3], reserve_idx=range(8, 12))
    sets = read_split(path, n_clusters=12)
    assert list(sets) == ["train_idx", "val_idx", "test_idx", "examine_idx", "reserve_idx"]
    assert sets["train_idx"].tolist() == [4, 0, 7] and sets["val_idx"].dtype == np.int64
    assert sets["examine_idx"].size == 0 and sets["reserve_idx"].tolist() == [8, 9, 10, 11]
    assert os.listdir(tmp_path) == [path.name]  # written under the exact name, no temporary left


@pytest.mark.parametrize(
    "stored, match",
    [
        ({"val_idx": [1], "test_idx": [2]}, r"missing key\(s\) 'train_idx'"),
        ({"train_idx": [0, 12], "val_idx": [1], "test_idx": [2]}, r"'train_idx' holds index 12 \(position 1\), which is not in \[0, 12\)"),
        ({"train_idx": [0], "val_idx": [-1], "test_idx": [2]}, r"'val_idx' holds index -1 \(position 0\)"),
        ({"train_idx": [0, 5], "val_idx": [1], "test_idx": [5]}, r"index 5 is in both 'train_idx' and 'test_idx'"),
        ({"train_idx": [0, 3, 3], "val_idx": [1], "test_idx": [2]}, r"'train_idx' lists index 3 2 times"),
        ({"train_idx": [0.0, 3.0], "val_idx": [1], "test_idx": [2]}, r"'train_idx' must be a 1-D array of integers, found float64"),
        ({"train_idx": [0], "val_idx": [1], "test_idx": [2], "add_idx": [0]}, r"unexpected key\(s\) 'add_idx'"),
    ],
)
def test_read_split_names_file_key_and_index(tmp_path, stored, match):
    path = tmp_path / "split_03_nonmin.npz"
    np.savez(path, **{key: np.asarray(v) for key, v in stored.items()})
    with pytest.raises(PNNLFormatError, match=r"split_03_nonmin.npz: " + match):
        read_split(path, n_clusters=12)


def test_split_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="split_00_x.npz: no such file"):
        read_split(tmp_path / "split_00_x.npz", 5)
    np.save(tmp_path / "one.npy", np.arange(3))
    with pytest.raises(PNNLFormatError, match="one.npy: not a readable .npz split file"):
        read_split(tmp_path / "one.npy", 5)
    with pytest.raises(PNNLFormatError, match=r"split_00_x.npz \(being written\): index 2 is in both 'train_idx' and 'examine_idx'"):
        write_split(tmp_path / "split_00_x.npz", train_idx=[0, 2], val_idx=[1], test_idx=[3], examine_idx=[2])
    assert not (tmp_path / "split_00_x.npz").exists()
