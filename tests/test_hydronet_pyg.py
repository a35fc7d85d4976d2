"""HydroNet raw files through PyG's own HydroNet class and through the float32 reader.

The raw archives are written here in the HydroNet layout from the real TTM2.1-F minima (frame 0)
and rattled, translated copies (frames 1-5, whose energy labels are made up: only the reading of
the files is under test).
"""
import re
import zipfile

import numpy as np
import pytest
import torch

from hydronet_nb.data.water import ClusterFormatError
from hydronet_nb.evaluate.predict import float16_energy_shift
from hydronet_nb.io.hydronet import (
    open_pyg_hydronet,
    read_hydronet_raw,
    read_hydronet_zip,
    to_model_dtypes,
)
from hydronet_nb.io.xyz import read_xyz_clusters

SIZES = [3, 4, 11]
FRAMES = 6


def frames_text(cluster, rng, n_frames=FRAMES, padded=False, malformed_comments=False):
    """``n_frames`` xyz frames: the minimum, then rattled copies moved by up to 10 Angstrom."""
    text, energies = [], []
    for f in range(n_frames):
        pos = cluster.pos.astype(np.float64)
        if f:
            pos = pos + rng.normal(0, 0.05, pos.shape) + rng.uniform(-10, 10, 3)
        e = round(cluster.energy + 0.25 * f, 7)
        energies.append(e)
        label = f"W{cluster.n_water}_{f:06d}"
        comment = f"{label} run {f} {e:.7f}" if malformed_comments else f"{label} {e:.7f}"
        text.append(f"{cluster.n_atoms}\n{comment}\n")
        for z, (x, y, w) in zip(cluster.z, pos):
            el = "O" if z == 8 else "H"
            text.append(f" {el}    {x:.7f}       {y:.8f}       {w:.8f}    \n" if padded else f"{el} {x:.8f} {y:.8f} {w:.8f}\n")
    return "".join(text), energies


def write_zip(path, text, member=None):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member or path.name.replace(".zip", ".xyz"), text)
    return path


@pytest.fixture(scope="module")
def raw_root(tmp_path_factory, ttm_minima):
    """``root/raw/W{3,4,11}_geoms_all.zip``; returns the root and the energies written, in order."""
    root = tmp_path_factory.mktemp("hydronet")
    (root / "raw").mkdir()
    rng = np.random.default_rng(11)
    energies = []
    for n in SIZES:
        (minimum,) = [c for c in ttm_minima if c.n_water == n]
        # W4 in the padded layout of the published files, W11 with extra tokens on the comment line
        text, e = frames_text(minimum, rng, padded=n == 4, malformed_comments=n == 11)
        write_zip(root / "raw" / f"W{n}_geoms_all.zip", text + ("\n\n" if n == 3 else ""))
        energies += e
    return root, energies


@pytest.fixture(scope="module")
def both(raw_root):
    root, energies = raw_root
    return open_pyg_hydronet(root, SIZES), read_hydronet_raw(root, SIZES), energies


def test_pyg_and_float32_reader_agree_up_to_float16_rounding(both):
    pyg, clusters, energies = both
    assert len(pyg) == len(clusters) == len(SIZES) * FRAMES
    assert [c.n_water for c in clusters] == [n for n in SIZES for _ in range(FRAMES)]
    assert [c.energy for c in clusters] == energies
    n_rounded = 0
    for data, c in zip(pyg, clusters):
        assert data.pos.dtype == torch.float16 and data.z.dtype == torch.int8  # what PyG stores
        assert data.z.tolist() == c.z.tolist()
        assert data.y.item() == np.float32(c.energy)
        p16, p32 = data.pos.numpy().astype(np.float64), c.pos.astype(np.float64)
        # each rounds the same decimal text once: they can differ by at most half a step of each
        bound = 0.5 * np.spacing(np.abs(data.pos.numpy())).astype(np.float64) + 0.5 * np.spacing(np.abs(c.pos))
        assert (np.abs(p16 - p32) <= bound).all()
        n_rounded += int((p16 != p32).sum())
    assert n_rounded > 0.9 * sum(c.n_atoms * 3 for c in clusters)  # float16 loses digits almost everywhere


def test_float32_reader_matches_the_xyz_reader_bit_for_bit(raw_root, tmp_path):
    root, _ = raw_root
    with zipfile.ZipFile(root / "raw" / "W4_geoms_all.zip") as zf:
        zf.extractall(tmp_path)
    plain = read_xyz_clusters(tmp_path / "W4_geoms_all.xyz")
    zipped = read_hydronet_zip(root / "raw" / "W4_geoms_all.zip")
    assert len(plain) == len(zipped) == FRAMES
    for a, b in zip(plain, zipped):
        assert np.array_equal(a.pos, b.pos) and a.energy == b.energy
    assert zipped[2].source == f"{root / 'raw' / 'W4_geoms_all.zip'}:W4_geoms_all.xyz frame 2"


def test_float16_shift_of_the_published_model(both, published_model):
    pyg, clusters, _ = both
    table = float16_energy_shift(published_model, clusters)
    via_pyg = [
        published_model(d.z, d.pos, torch.zeros(len(d.z), dtype=torch.long)).item()
        for d in (to_model_dtypes(pyg[i]) for i in range(len(pyg)))
    ]
    # PyG's float16 positions give the float16 column (up to the rare tie that PyG rounds differently)
    np.testing.assert_allclose(via_pyg, table["energy_float16"], atol=2e-3)
    assert (table["shift_per_water"].abs() > 1e-5).all()  # larger than float32 noise in every cluster
    print(table.groupby("n_water")["shift_per_water"].agg(lambda s: s.abs().mean()).to_string())


def test_missing_raw_files_say_where_to_put_them(raw_root):
    root, _ = raw_root
    raw = re.escape(str(root / "raw"))
    where = rf"{raw}: missing W5_geoms_all.zip, W30_geoms_all.zip\. .*put the raw files in {raw} "
    with pytest.raises(FileNotFoundError, match=where):
        open_pyg_hydronet(root, [3, 5, 30])
    with pytest.raises(FileNotFoundError, match=where):
        read_hydronet_raw(root, [3, 5, 30])
    with pytest.raises(ValueError, match=r"sizes must be waters in 3..30, got \[31\]"):
        read_hydronet_raw(root, [3, 31])


def minimum_text(ttm_minima, n=3, frames=2):
    (c,) = [c for c in ttm_minima if c.n_water == n]
    return frames_text(c, np.random.default_rng(0), n_frames=frames)[0].splitlines(keepends=True)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda lines: lines[:11] + ["10\n"] + lines[12:], r"line 12: expected the atom count 9, found '10'"),
        (lambda lines: lines[:12] + ["W3_000001\n"] + lines[13:], r"line 13: no energy on the comment line 'W3_000001'"),
        (lambda lines: lines[:4] + ["C 0.0 1.0 2.0\n"] + lines[5:], r"line 5: element 'C' is not O or H \(water\)"),
        (lambda lines: lines[:15] + ["H 0.0 1.0\n"] + lines[16:], r"line 16: expected 'element x y z'"),
        (lambda lines: lines[:15] + ["H 0.0 1.0 abc\n"] + lines[16:], r"line 16: expected 'element x y z', found 'H 0.0 1.0 abc'"),
        (lambda lines: lines[:15] + ["\n"] + lines[16:], r"line 16: expected 'element x y z'"),
        (lambda lines: lines[:-2], r"the file ends inside frame 1 \(line 20\)"),
        (lambda lines: lines[:11] + ["\n"] + lines[11:], r"line 12 is blank where frame 1 should start"),
        (lambda lines: [line.replace("O ", "H ", 1) if i == 2 else line for i, line in enumerate(lines)],
         r"frame 0: 9 atoms with 2 O and 7 H is not water"),
    ],
)
def test_bad_raw_files_name_file_and_line(ttm_minima, tmp_path, edit, match):
    path = write_zip(tmp_path / "W3_geoms_all.zip", "".join(edit(minimum_text(ttm_minima))))
    with pytest.raises(ClusterFormatError, match=rf"W3_geoms_all.zip:W3_geoms_all.xyz:? {match}"):
        read_hydronet_zip(path)


def test_archive_level_errors(ttm_minima, tmp_path):
    text = "".join(minimum_text(ttm_minima))
    with pytest.raises(ClusterFormatError, match=r"W4_geoms_all.zip:W4_geoms_all.xyz: frames of 9 atoms, but PyG reads"):
        read_hydronet_zip(write_zip(tmp_path / "W4_geoms_all.zip", text))
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as zf:
        zf.writestr("a.xyz", text)
        zf.writestr("b.xyz", text)
    with pytest.raises(ClusterFormatError, match=r"two.zip: holds 2 files"):
        read_hydronet_zip(two)
    with pytest.raises(FileNotFoundError, match="none.zip: no such file"):
        read_hydronet_zip(tmp_path / "none.zip")
