"""Shared test set-up: offline copies of the published files, and small clusters."""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_REFERENCE = ROOT.parent / "shared" / "reference"

# Tests read the published files from the local mirror beside the project when it is there
# (CI, developers); elsewhere hydronet_nb downloads them into its cache.
if SHARED_REFERENCE.is_dir():
    os.environ.setdefault("HYDRONET_NB_MIRROR", str(SHARED_REFERENCE))

#: set by CI (.ci/run): also the tests marked ``full`` (the other chapters live in JupyterLab, the chapters on
#: other data layouts), which `make test` leaves out to stay within its 15 minutes
FULL_ENV = "HYDRONET_NB_FULL_TESTS"


def pytest_collection_modifyitems(config, items):
    if os.environ.get(FULL_ENV):
        return
    skip = pytest.mark.skip(reason=f"a 'full' test: CI runs it (${FULL_ENV}=1 runs it here)")
    for item in items:
        if "full" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def ttm_minima():
    """The real TTM2.1-F global minima W3-W15 as Cluster objects."""
    from hydronet_nb.io.reference_files import ttm21f_minima_paths
    from hydronet_nb.io.xyz import read_xyz_clusters

    return [c for p in ttm21f_minima_paths() for c in read_xyz_clusters(p)]


@pytest.fixture(scope="session")
def published_model():
    from hydronet_nb.model.published import load_published_model

    return load_published_model()


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """A ``hydronet-nb generate --tiny`` data set (W3-W5 minima, W6 extrapolation, MD, GFN2-xTB), in seconds."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # before tblite loads
    from hydronet_nb.reference.generate import generate
    from hydronet_nb.reference.settings import TINY, Settings

    root = tmp_path_factory.mktemp("tiny")
    out = root / "data"
    generate(Settings(**TINY), out, root / "work", workers=1, command="hydronet-nb generate --tiny")
    return out


@pytest.fixture(scope="session")
def nonmin(tmp_path_factory):
    """A PNNL-layout folder of 78 toy-labelled non-minima with a five-part split."""
    import numpy as np
    from synthetic import clusters

    from hydronet_nb.io.pnnl import write_pnnl_hdf5, write_split

    folder = tmp_path_factory.mktemp("nonmin")
    data = clusters(copies=6, rattle=0.05, sizes=range(3, 16))
    write_pnnl_hdf5(folder / "nonmin_data.hdf5", data)
    rows = np.random.default_rng(0).permutation(len(data))
    write_split(folder / "split_00_nonmin.npz", train_idx=rows[:20], val_idx=rows[20:30], test_idx=rows[30:40],
                examine_idx=rows[40:50], reserve_idx=rows[50:])
    return folder
