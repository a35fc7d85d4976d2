"""Hostile inputs for every reader: each mutated file ends in the package's own error naming the file, or reads back
as valid clusters; never a library traceback, never a silently dropped row (hypothesis, a bounded number of cases)."""
import json
import os
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from synthetic import clusters

from hydronet_nb.data.clusters import ClusterSet
from hydronet_nb.errors import InputError
from hydronet_nb.io.pnnl import read_pnnl_hdf5, read_split, write_pnnl_hdf5, write_split
from hydronet_nb.io.xyz import read_xyz_clusters
from hydronet_nb.model.loading import load_model
from hydronet_nb.utils.config import read_mapping

# 60 cases per reader in `make test`; HYDRONET_NB_FUZZ_EXAMPLES=1000 for a longer search
FUZZ = settings(max_examples=int(os.environ.get("HYDRONET_NB_FUZZ_EXAMPLES", 60)), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
                derandomize=True)


def expect_own_error_or_valid(read, path):
    """``read(path)``: valid clusters, or InputError / FileNotFoundError whose message names the file."""
    try:
        out = read(path)
    except (InputError, FileNotFoundError) as exc:
        assert path.name in str(exc), f"the message does not name the file: {exc}"
        return None
    return out


def check_clusters(data):
    data = ClusterSet.from_clusters(data)
    assert np.isfinite(data.pos).all() and (data.n_atoms % 3 == 0).all()
    assert all(z in (1, 8) for z in np.unique(data.z))
    return data


# --- xyz -------------------------------------------------------------------------------------------------

def xyz_text(cluster, energy=-15.5):
    lines = [str(cluster.n_atoms), f"{energy}"]
    lines += [f"{'O' if z == 8 else 'H'} {x:.6f} {y:.6f} {w:.6f}" for z, (x, y, w) in zip(cluster.z, cluster.pos)]
    return "\n".join(lines) + "\n"


VALID_XYZ = xyz_text(clusters(copies=1, sizes=[3])[0]).encode()

MUTATIONS = st.one_of(
    st.tuples(st.just("truncate"), st.integers(0, len(VALID_XYZ))),
    st.tuples(st.just("flip"), st.integers(0, len(VALID_XYZ) - 1), st.integers(1, 255)),
    st.tuples(st.just("number"), st.integers(0, 26), st.sampled_from(["nan", "inf", "-inf", "1e400", "x", ""])),
    st.tuples(st.just("count"), st.sampled_from(["-3", "0", "999999999", "8", "10", "3.5", "nine"])),
    st.tuples(st.just("element"), st.integers(2, 10), st.sampled_from(["C", "N", "Xx", "1", "h"])),
    st.tuples(st.just("drop"), st.integers(2, 10)),
    st.tuples(st.just("duplicate"), st.integers(2, 10)),
    st.tuples(st.just("bytes"), st.binary(min_size=0, max_size=64)),
)


def mutate_xyz(kind):
    text = VALID_XYZ
    lines = text.decode().splitlines()
    if kind[0] == "truncate":
        return text[:kind[1]]
    if kind[0] == "flip":
        data = bytearray(text)
        data[kind[1]] ^= kind[2]
        return bytes(data)
    if kind[0] == "number":
        row, col = 2 + kind[1] // 3 % 9, 1 + kind[1] % 3
        parts = lines[row].split()
        parts[col] = kind[2]
        lines[row] = " ".join(parts)
    elif kind[0] == "count":
        lines[0] = kind[1]
    elif kind[0] == "element":
        parts = lines[kind[1]].split()
        lines[kind[1]] = " ".join([kind[2], *parts[1:]])
    elif kind[0] == "drop":
        del lines[kind[1]]
    elif kind[0] == "duplicate":
        lines.insert(kind[1], lines[kind[1]])
        lines[0] = str(int(lines[0]) + 1)
    elif kind[0] == "bytes":
        return kind[1]
    return ("\n".join(lines) + "\n").encode()


@FUZZ
@given(MUTATIONS)
def test_xyz_reader_on_mutated_files(tmp_path_factory, kind):
    path = tmp_path_factory.mktemp("xyz") / "cluster.xyz"
    path.write_bytes(mutate_xyz(kind))
    out = expect_own_error_or_valid(read_xyz_clusters, path)
    if out is not None:
        data = check_clusters(out)
        assert len(data) == 1 and data.n_atoms[0] == 9  # nothing dropped


def test_xyz_reader_on_a_directory_and_an_empty_file(tmp_path):
    with pytest.raises(InputError, match="is a folder"):
        read_xyz_clusters(tmp_path)
    (tmp_path / "empty.xyz").write_text("")
    with pytest.raises(InputError, match="empty.xyz"):
        read_xyz_clusters(tmp_path / "empty.xyz")


# --- PNNL HDF5 and split files ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pnnl_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pnnl")
    data = clusters(copies=1, sizes=[3, 4, 5])
    write_pnnl_hdf5(folder / "nonmin_data.hdf5", data)
    return folder / "nonmin_data.hdf5"


HDF5_EDITS = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0.0, 0.99)),
    st.tuples(st.just("flip"), st.floats(0.0, 0.999), st.integers(1, 255)),
    st.tuples(st.just("field"), st.sampled_from(["nan", "inf", "huge", "negative", "float", "shape", "drop", "strings"])),
)


def edit_hdf5(source, target, edit):
    raw = source.read_bytes()
    if edit[0] == "truncate":
        target.write_bytes(raw[:int(edit[1] * len(raw))])
        return
    if edit[0] == "flip":
        data = bytearray(raw)
        data[int(edit[1] * len(data))] ^= edit[2]
        target.write_bytes(bytes(data))
        return
    target.write_bytes(raw)
    with h5py.File(target, "r+") as f:
        names = sorted(f.keys())
        name = names[hash(edit[1]) % len(names)]
        values = f[name][()]
        del f[name]
        if edit[1] == "drop":
            return
        if edit[1] == "nan":
            values = np.where(np.ones_like(values, dtype=bool), np.nan, values) if values.dtype.kind == "f" else values
        elif edit[1] == "inf":
            values = values.astype(float) * np.inf if values.dtype.kind in "fi" else values
        elif edit[1] == "huge":
            values = (values.astype(np.int64) + 2**40) if values.dtype.kind in "iu" else values * 1e30
        elif edit[1] == "negative":
            values = -np.abs(values) - 1
        elif edit[1] == "float":
            values = values.astype(np.float64) + 0.5
        elif edit[1] == "shape":
            values = values.reshape(-1)[: max(len(values.reshape(-1)) - 1, 0)]
        elif edit[1] == "strings":
            values = np.array([b"x"] * max(len(values), 1))
        f[name] = values


@FUZZ
@given(HDF5_EDITS)
def test_pnnl_reader_on_mutated_files(pnnl_file, tmp_path_factory, edit):
    target = tmp_path_factory.mktemp("bad") / "nonmin_data.hdf5"
    edit_hdf5(pnnl_file, target, edit)
    out = expect_own_error_or_valid(read_pnnl_hdf5, target)
    if out is not None:
        data = check_clusters(out)
        assert len(data) == 3 and np.isfinite(data.energy).all()  # nothing dropped, nothing non-finite


SPLIT_EDITS = st.fixed_dictionaries({
    "train_idx": st.lists(st.integers(-5, 8), max_size=6),
    "val_idx": st.lists(st.integers(-5, 8), max_size=3),
    "test_idx": st.one_of(st.lists(st.integers(0, 2), max_size=3), st.just("floats"), st.just("missing")),
})


@FUZZ
@given(SPLIT_EDITS)
def test_split_reader_on_hostile_indices(tmp_path_factory, parts):
    path = tmp_path_factory.mktemp("split") / "split_00_nonmin.npz"
    arrays = {k: np.asarray(v, dtype=np.int64) for k, v in parts.items() if isinstance(v, list)}
    if parts["test_idx"] == "floats":
        arrays["test_idx"] = np.array([0.5, 1.5])
    np.savez(path, **arrays)
    try:
        split = read_split(path, 3)
    except (InputError, FileNotFoundError) as exc:
        assert path.name in str(exc)
        return
    rows = np.concatenate([split[k] for k in ("train_idx", "val_idx", "test_idx")])
    assert ((0 <= rows) & (rows < 3)).all() and len(np.unique(rows)) == len(rows)


# --- checkpoints, configs, model names --------------------------------------------------------------------

@pytest.fixture(scope="module")
def checkpoint_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "schnet.pt"
    torch.save(load_model("pretrained").state_dict(), path)
    return path.read_bytes()


@FUZZ
@given(st.one_of(st.tuples(st.just("truncate"), st.floats(0.0, 0.999)),
                 st.tuples(st.just("flip"), st.floats(0.0, 0.999), st.integers(1, 255)),
                 st.tuples(st.just("bytes"), st.binary(max_size=200))))
def test_checkpoint_loader_on_mutated_files(checkpoint_bytes, tmp_path_factory, edit):
    path = tmp_path_factory.mktemp("bad") / "model.pt"
    if edit[0] == "truncate":
        path.write_bytes(checkpoint_bytes[:int(edit[1] * len(checkpoint_bytes))])
    elif edit[0] == "flip":
        data = bytearray(checkpoint_bytes)
        data[int(edit[1] * len(data))] ^= edit[2]
        path.write_bytes(bytes(data))
    else:
        path.write_bytes(edit[1])
    out = expect_own_error_or_valid(load_model, path)
    if out is not None:  # a flip in a weight's digits still loads: the weights are then simply other numbers
        assert sum(p.numel() for p in out.parameters()) == 186_701


@pytest.mark.parametrize("state", [{"embedding.weight": torch.zeros(3, 3)}, {"x": 1}, [1, 2], "text",
                                   {"model": {"embedding.weight": "no"}}])
def test_checkpoint_with_wrong_contents(tmp_path, state):
    path = tmp_path / "odd.pt"
    torch.save(state, path)
    with pytest.raises(InputError, match="odd.pt"):
        load_model(path)


@FUZZ
@given(st.one_of(st.binary(max_size=120), st.text(max_size=120).map(str.encode),
                 st.recursive(st.one_of(st.none(), st.integers(), st.text(max_size=5)),
                              lambda inner: st.lists(inner, max_size=3)
                              | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)
                 .map(lambda v: json.dumps(v).encode())))
def test_config_reader_on_hostile_files(tmp_path_factory, raw):
    from hydronet_nb.finetune.command import read_config

    for name in ("config.yaml", "config.json"):
        path = tmp_path_factory.mktemp("cfg") / name
        path.write_bytes(raw)
        try:
            read_mapping(path)
            read_config(path)
        except (InputError, FileNotFoundError) as exc:
            assert name in str(exc) or "output" in str(exc), str(exc)


@FUZZ
@given(st.text(min_size=1, max_size=30))
def test_model_names_that_do_not_exist(name):
    try:
        load_model(name)
    except (InputError, FileNotFoundError, IsADirectoryError) as exc:
        assert name.strip() in str(exc) or "no such" in str(exc)


class _RunsCode:
    """A pickle that would run a command when unpickled without weights_only."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_checkpoints_are_read_with_weights_only(tmp_path):
    """A checkpoint holding code is refused, and the code does not run; every torch.load says weights_only=True."""
    import re

    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    torch.save({"model": _RunsCode(marker)}, path)
    with pytest.raises(InputError, match="evil.pt: not a readable"):
        load_model(path)
    assert not marker.exists()
    package = Path(__file__).parents[1] / "hydronet_nb"
    for source in package.rglob("*.py"):
        for call in re.findall(r"torch\.load\(([^)]*)\)", source.read_text()):
            assert "weights_only=True" in call, f"{source}: torch.load({call})"


def test_command_line_on_hostile_inputs(tmp_path, pnnl_file, capsys):
    """The same classes of bad input through ``hydronet-nb``: status 2 and one line on stderr naming the file."""
    import subprocess
    import sys

    from hydronet_nb.cli import main

    minimum = tmp_path / "ok.xyz"
    minimum.write_bytes(VALID_XYZ)
    cases = {"bytes.xyz": b"\x80\x81 not text", "atoms.xyz": mutate_xyz(("drop", 5)),
             "nan.xyz": mutate_xyz(("number", 4, "nan")), "bad.yaml": b"data: [\n", "notes.pt": b"hello\n"}
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
    damaged = tmp_path / "damaged_data.hdf5"
    damaged.write_bytes(pnnl_file.read_bytes()[:300])
    (tmp_path / "uses_damaged.yaml").write_text(f"data: {{source: pnnl, path: {damaged.name}, split: x.npz}}\n"
                                                "output: out\n")
    commands = [(["predict", str(tmp_path / "bytes.xyz")], "bytes.xyz"),
                (["predict", str(tmp_path / "atoms.xyz")], "atoms.xyz"),
                (["predict", str(tmp_path / "nan.xyz")], "nan.xyz"),
                (["finetune", "--config", str(tmp_path / "bad.yaml")], "bad.yaml"),
                (["transfer", "--config", str(tmp_path / "bad.yaml")], "bad.yaml"),
                (["pretrain", "--config", str(tmp_path / "bad.yaml")], "bad.yaml"),
                (["predict", "--model", str(tmp_path / "notes.pt"), str(minimum)], "notes.pt"),
                (["finetune", "--config", str(tmp_path / "uses_damaged.yaml")], "damaged_data.hdf5"),
                (["md", "--model", str(tmp_path / "notes.pt"), "--out", str(tmp_path / "md")], "notes.pt")]
    for argv, culprit in commands:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and err.startswith("hydronet-nb: error: "), (argv, err)
        assert culprit in err, (argv, err)
    result = subprocess.run([sys.executable, "-m", "hydronet_nb", "predict", str(tmp_path / "bytes.xyz")],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1


# --- HydroNet raw zips ------------------------------------------------------------------------------------

def _zip(path, text: bytes):
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("W3_geoms_all.xyz", text)
    return path


def _hydronet_text() -> bytes:
    """Two W3 frames as HydroNet's raw files write them (atom count, a comment ending in the energy, atoms)."""
    one = VALID_XYZ.decode().splitlines()
    frame = [one[0], "W3_000001 -15.5", *one[2:]]
    return ("\n".join(frame + [frame[0], "W3_000002 -15.4", *frame[2:]]) + "\n").encode()


@FUZZ
@given(st.one_of(MUTATIONS.map(lambda kind: ("member", kind)),
                 st.tuples(st.just("archive"), st.floats(0.0, 0.999), st.integers(1, 255)),
                 st.tuples(st.just("archive-cut"), st.floats(0.0, 0.999))))
def test_hydronet_zip_reader_on_mutated_archives(tmp_path_factory, edit):
    from hydronet_nb.io.hydronet import read_hydronet_zip

    folder = tmp_path_factory.mktemp("zip")
    path = folder / "W3_geoms_all.zip"
    if edit[0] == "member":
        text = mutate_xyz(edit[1]) if edit[1][0] in ("truncate", "flip", "bytes") else _hydronet_text()
        _zip(path, text if edit[1][0] in ("truncate", "flip", "bytes") else
             _hydronet_text().replace(VALID_XYZ.splitlines()[3], mutate_xyz(edit[1]).splitlines()[3]
                                      if len(mutate_xyz(edit[1]).splitlines()) > 3 else b""))
    else:
        raw = _zip(folder / "ok.zip", _hydronet_text()).read_bytes()
        data = bytearray(raw[:int(edit[1] * len(raw))] if edit[0] == "archive-cut" else raw)
        if edit[0] == "archive" and data:
            data[int(edit[1] * len(data))] ^= edit[2]
        path.write_bytes(bytes(data))
    out = expect_own_error_or_valid(read_hydronet_zip, path)
    if out is not None:
        data = check_clusters(out)
        assert len(data) in (1, 2) and np.isfinite(data.energy[~np.isnan(data.energy)]).all()
