import warnings

import numpy as np
import pytest

from hydronet_nb.data.water import ClusterFormatError, WaterOrderWarning
from hydronet_nb.io.reference_files import fetch
from hydronet_nb.io.xyz import read_xyz_clusters, write_xyz_clusters


def write(tmp_path, text, name="bad.xyz"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reads_real_minimum_with_its_energy():
    (w10,) = read_xyz_clusters(fetch("ttm21f-minimum-w10"))
    assert w10.n_water == 10 and w10.pos.dtype == np.float32
    assert w10.energy == pytest.approx(-94.6706543)
    assert list(w10.z[:6]) == [8, 1, 1, 8, 1, 1]


def test_reads_multiframe_trajectory_without_energies():
    frames = read_xyz_clusters(fetch("graphcore-w10-md-ttm"), regroup=False)
    assert len(frames) == 101
    assert all(f.energy is None and f.n_water == 10 for f in frames)
    assert frames[3].source.endswith("frame 3")


def test_round_trip(tmp_path, ttm_minima):
    path = tmp_path / "out.xyz"
    write_xyz_clusters(path, ttm_minima[:4])
    back = read_xyz_clusters(path)
    assert [c.energy for c in back] == pytest.approx([c.energy for c in ttm_minima[:4]])
    np.testing.assert_allclose(back[2].pos, ttm_minima[2].pos, atol=1e-6)


def test_hydrogens_out_of_order_are_regrouped_and_reported(tmp_path, ttm_minima):
    w4 = ttm_minima[1]
    order = np.r_[np.arange(0, 12, 3), np.arange(1, 12, 3), np.arange(2, 12, 3)]  # O O O O H ... H
    lines = [f"{'OH'[int(z == 1)]} {x} {y} {w}" for z, (x, y, w) in zip(w4.z[order], w4.pos[order].astype(float))]
    path = write(tmp_path, f"12\n{w4.energy}\n" + "\n".join(lines) + "\n", "shuffled.xyz")
    with pytest.warns(WaterOrderWarning, match="shuffled.xyz"):
        (c,) = read_xyz_clusters(path)
    np.testing.assert_allclose(np.sort(c.pos, axis=0), np.sort(w4.pos, axis=0))
    oh = np.linalg.norm(c.pos.reshape(4, 3, 3)[:, 1:] - c.pos.reshape(4, 3, 3)[:, :1], axis=-1)
    assert oh.max() < 1.1


def test_in_order_file_gives_no_warning(ttm_minima):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_xyz_clusters(fetch("ttm21f-minimum-w5"))


@pytest.mark.parametrize(
    "text, message",
    [
        ("3\n-1.0\nO 0 0 0\nH 0.96 0 0\nC 0 0.96 0\n", r"bad.xyz: line 5: element 'C' is not O or H"),
        ("4\n-1.0\nO 0 0 0\nH 0.96 0 0\nH 0 0.96 0\nH 0 0 0.96\n", r"bad.xyz: 4 atoms with 1 O and 3 H is not water"),
        ("3\n-1.0\nO 0 0 0\nH 0.96 0 0\n", r"bad.xyz: line 1: frame announces 3 atoms but the file ends after 2"),
        ("three\n\nO 0 0 0\n", r"bad.xyz: line 1: expected an atom count"),
        ("3\n\nO 0 0 0\nH 0.96 x 0\nH 0 0.96 0\n", r"bad.xyz: line 4: coordinates .* are not numbers"),
        ("3\n\nO 0 0 nan\nH 0.96 0 0\nH 0 0.96 0\n", r"bad.xyz: line 3 has a non-finite coordinate"),
        ("3\n\nO 0 0 0\nH 0.96 0 0\n", r"line 1: frame announces"),
        ("6\n\nO 0 0 0\nH 0.96 0 0\nH 0.9 0.1 0\nO 9 0 0\nH 0.5 0 0\nH 0 0.96 0\n", r"cannot group into molecules"),
        ("", r"bad.xyz: no structures"),
    ],
)
def test_bad_files_name_the_file_and_line(tmp_path, text, message):
    with pytest.raises(ClusterFormatError, match=message):
        read_xyz_clusters(write(tmp_path, text))


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.xyz"):
        read_xyz_clusters(tmp_path / "nothere.xyz")
