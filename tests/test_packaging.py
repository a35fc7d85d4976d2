"""The package as users install it: a wheel holds the shipped files (data, not code) and declares what it needs."""
import subprocess
import sys
import zipfile

import pytest

from notebook_harness import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out)], check=True, capture_output=True, cwd=out)
    (path,) = out.glob("hydronet_nb-*.whl")
    return zipfile.ZipFile(path)


def test_the_wheel_holds_the_embedded_data_set_and_the_shipped_checkpoint(wheel):
    names = set(wheel.namelist())
    for name in ("min_data.hdf5", "split_00_min.npz", "DATASET.json", "DATASET.md"):
        assert f"hydronet_nb/resources/embedded/{name}" in names
    for model in ("pretrained", "finetuned", "scratch-forces", "transfer", "scratch-transfer", "published-transfer"):
        for name in ("schnet.pt", "config.json", "metrics.csv", "errors.csv", "MODEL.json", "MODEL.md"):
            assert f"hydronet_nb/resources/models/{model}/{name}" in names
    for name in ("summary.csv", "create_graph_epochs.csv", "selection_rounds.csv", "STUDY.json", "STUDY.md"):
        assert f"hydronet_nb/resources/studies/forces/{name}" in names
    for name in ("summary.csv", "STUDY.json", "STUDY.md"):
        assert f"hydronet_nb/resources/studies/transfer/{name}" in names
    for name in ("runs.csv", "frames.csv", "STUDY.json", "trajectories/grid-finetuned-W10-seed0.xyz"):
        assert f"hydronet_nb/resources/studies/md/{name}" in names
    for name in ("bench.csv", "STUDY.json", "STUDY.md"):  # chapter 2's quiet bench
        assert f"hydronet_nb/resources/studies/bench/{name}" in names
    assert not any(n.startswith("hydronet_nb/resources/") and n.endswith(".py") for n in names)  # data, not code


def test_the_wheel_requires_the_potentials_and_pooch(wheel):
    metadata = wheel.read(next(n for n in wheel.namelist() if n.endswith("METADATA"))).decode()
    required = [line.split()[1] for line in metadata.splitlines()
                if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert {"openmm>=8.1", "tblite>=0.3", "pooch>=1.8"} <= set(required)
