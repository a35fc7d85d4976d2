"""Chapter 1 (data exploration): ``hydronet_nb.data.datasets``, cards, exploration and hydrogen-bond tables, and the
notebook on a tiny data set.

The expected values are computed here from the files themselves (through ``hydronet_nb.io.pnnl`` and
plain numpy), not through the helpers the notebook uses.
"""
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hydronet_nb.data import cards
from hydronet_nb.data import datasets as D
from hydronet_nb.data import explore as E
from hydronet_nb.data.hbonds import descriptor_table, descriptors_by_size, distance_table, network_descriptors
from hydronet_nb.data.splits import sample_rows
from hydronet_nb.io.pnnl import read_pnnl_hdf5, read_split
from notebook_harness import ROOT, recorded_values, run_notebook

NOTEBOOK = ROOT / "notebooks" / "01_data_exploration.ipynb"


@pytest.fixture(scope="module")
def tiny(tiny_dataset) -> Path:
    return tiny_dataset


@pytest.fixture(scope="module")
def files(tiny):
    """Every data set of the tiny folder, read straight from the HDF5 files."""
    return {name: read_pnnl_hdf5(tiny / f"{name}_data.hdf5") for name in D.GENERATED}


# --- datasets: where the data live and how they load ---------------------------------------------


def test_missing_folder_names_folder_and_command(tmp_path):
    nowhere = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError) as err:
        D.load_dataset("min", nowhere)
    assert str(nowhere) in str(err.value) and f"hydronet-nb generate --out {nowhere}" in str(err.value)
    with pytest.raises(FileNotFoundError, match="hydronet-nb generate --out"):
        D.load_all(nowhere)


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        D.load_dataset("nonmin", tmp_path)
    assert str(tmp_path / "nonmin_data.hdf5") in str(err.value) and "hydronet-nb generate" in str(err.value)
    with pytest.raises(FileNotFoundError, match="any <name>_data.hdf5"):
        D.load_all(tmp_path)


def test_embedded_folder_is_the_default():
    assert D.resolve_dir(None) == D.EMBEDDED_DIR == Path(D.__file__).parents[1] / "resources" / "embedded"
    assert D.data_file("min").name == "min_data.hdf5" and D.split_file("min").name == "split_00_min.npz"


def test_load_dataset_gives_the_files_arrays_and_split(tiny, files):
    assert D.available(tiny) == list(D.GENERATED)
    for name, raw in files.items():
        ds = D.load_dataset(name, tiny)
        assert len(ds) == len(raw) > 0
        np.testing.assert_array_equal(ds.size, raw.size)
        np.testing.assert_array_equal(ds.energy, raw.energy)
        assert ds.has_forces == (name in ("nonmin", "gfn2xtb"))
        split = read_split(tiny / f"split_00_{name}.npz", len(raw))
        for key, idx in split.items():
            np.testing.assert_array_equal(ds.split[key], idx)
        last = ds.cluster(len(ds) - 1)
        np.testing.assert_array_equal(last.pos, raw[len(raw) - 1].pos)
        assert ds.potential == ("GFN2-xTB" if name == "gfn2xtb" else "AMOEBA2018")


def test_summary_table(tiny, files):
    table = D.summary(D.load_all(tiny))
    assert list(table.index) == list(D.GENERATED)
    for name, raw in files.items():
        row = table.loc[name]
        assert row["clusters"] == len(raw) and row["sizes"] == len(np.unique(raw.size))
        assert (row["min waters"], row["max waters"]) == (raw.size.min(), raw.size.max())
        assert row["min E (kcal/mol)"] == pytest.approx(raw.energy.min())
        assert row["max E/water"] == pytest.approx((raw.energy / raw.size).max())
    assert table.loc["gfn2xtb", "potential"] == "GFN2-xTB" and table.loc["nonmin", "forces"]


def test_card_facts_and_tables(tiny):
    card = cards.read_card(tiny)  # the JSON sidecar; DATASET.md is rendered from it, never read back
    facts = cards.dataset_facts(card)
    assert facts["command"] == "hydronet-nb generate --tiny"
    assert facts["cpu_seconds"] > 0 and any(p.startswith("AMOEBA2018") for p in facts["potentials"])
    walks = cards.stage_table(card, "min")
    assert list(walks["waters"]) == [3, 4, 5]
    assert walks["kept"].astype(int).sum() == len(read_pnnl_hdf5(tiny / "min_data.hdf5"))
    with pytest.raises(KeyError, match="no table"):
        cards.stage_table(card, "nothing")
    assert (tiny / "DATASET.md").read_text() == cards.render_dataset_card(card)


def test_lowest_match_and_sample(tiny, files):
    data = D.load_all(tiny)
    lowest = E.lowest_per_size(data["min"])
    raw = files["min"]
    for _, row in lowest.iterrows():
        assert row["energy"] == raw.energy[raw.size == row["n_water"]].min() == raw.energy[int(row["row"])]
    rows = E.match_rows(data["min"], data["gfn2xtb"])
    assert (rows >= 0).all()  # every GFN2-xTB structure is a minimum of `min`
    for i, j in enumerate(rows):
        np.testing.assert_array_equal(files["gfn2xtb"][i].pos, raw[int(j)].pos)
    picked = sample_rows(raw.size, 1)
    assert sorted(raw.size[picked]) == sorted(np.unique(raw.size))
    assert len(sample_rows(raw.size, None)) == len(raw)


def test_hydronet_raw_zips_are_read_as_min(tmp_path, ttm_minima):
    """A folder with the real HydroNet's ``raw/W{N}_geoms_all.zip`` loads as ``min`` (TTM2.1-F, no split)."""
    (tmp_path / "raw").mkdir()
    for c in [m for m in ttm_minima if m.n_water in (3, 4)]:
        atoms = "".join(f"{'O' if z == 8 else 'H'} {x:.6f} {y:.6f} {w:.6f}\n" for z, (x, y, w) in zip(c.z, c.pos))
        text = f"{c.n_atoms}\nframe0 {c.energy}\n{atoms}" * 2
        with zipfile.ZipFile(tmp_path / "raw" / f"W{c.n_water}_geoms_all.zip", "w") as zf:
            zf.writestr(f"W{c.n_water}_geoms_all.xyz", text)
    assert D.available(tmp_path) == ["min"]
    ds = D.load_dataset("min", tmp_path)
    assert ds.potential == "TTM2.1-F" and ds.split is None
    assert list(ds.size) == [3, 3, 4, 4]
    assert ds.energy[0] == pytest.approx(next(m.energy for m in ttm_minima if m.n_water == 3))


def test_compare_with_hydronet_labels_published_numbers(tiny):
    table = E.compare_with_hydronet(D.load_all(tiny))
    assert list(table.columns) == ["HydroNet (published)", "loaded here"]
    assert "4,464,740" in table.loc["minima, all sizes", "HydroNet (published)"]
    assert table.loc["potential (minima)"].tolist() == ["TTM2.1-F", "AMOEBA2018"]


# --- hydrogen-bond tables on the real TTM2.1-F global minima --------------------------------------


def test_descriptor_table_counts_known_hydrogen_bonds(ttm_minima):
    table = descriptor_table(ttm_minima, progress=False)
    hbonds = table.set_index("n_water")["hbonds"]
    # cyclic trimer, tetramer, pentamer: one bond per molecule; the W8 cube 12; the W10 pentagonal prism 15
    assert {n: hbonds[n] for n in (3, 4, 5, 8, 10)} == {3: 3, 4: 4, 5: 5, 8: 12, 10: 15}
    assert table["connected"].all()
    by_size = descriptors_by_size(table)
    assert list(by_size["n_water"]) == list(range(3, 16)) and (by_size["clusters"] == 1).all()
    assert by_size.set_index("n_water").loc[8, "hbonds_per_water"] == 1.5
    assert list(descriptor_table([], progress=False).columns)[:2] == ["n_water", "hbonds"]


def test_descriptors_by_size_averages_groups(ttm_minima):
    cube = next(c for c in ttm_minima if c.n_water == 8)
    ring = next(c for c in ttm_minima if c.n_water == 4)
    table = descriptor_table([cube, cube, ring], progress=False).assign(dataset=["a", "b", "a"])
    grouped = descriptors_by_size(table, by=("dataset", "n_water"))
    assert len(grouped) == 3 and grouped["clusters"].tolist() == [1, 1, 1]
    merged = descriptors_by_size(table)
    assert merged.set_index("n_water").loc[8, "clusters"] == 2


def test_distance_table(ttm_minima):
    table = distance_table(ttm_minima)
    assert len(table) == sum(c.n_water * (c.n_water - 1) // 2 + 2 * c.n_water for c in ttm_minima)
    oh = table.loc[table["pair"] == "O-H", "distance"]
    oo = table.loc[table["pair"] == "O...O", "distance"]
    assert 0.93 < oh.min() and oh.max() < 1.0 and oo.min() > 2.5
    w10 = next(c for c in ttm_minima if c.n_water == 10)
    mol = w10.pos.reshape(-1, 3, 3).astype(float)
    expected = np.linalg.norm(mol[0, 0] - mol[1, 0])
    got = table.loc[(table["n_water"] == 10) & (table["pair"] == "O...O"), "distance"].iloc[0]
    assert got == pytest.approx(expected, abs=1e-5)


def test_against_reference_minima(ttm_minima):
    from hydronet_nb.reference.potentials import Amoeba

    small = [c for c in ttm_minima if c.n_water <= 5]
    lowest = pd.DataFrame({"n_water": [3, 4], "energy_per_water": [-5.0, -6.5]})
    table = E.against_reference_minima(lowest, small, Amoeba(), relax=True)
    assert list(table["n_water"]) == [3, 4, 5] and np.isnan(table["lowest"].iloc[2])
    assert table["reference"].tolist() == pytest.approx([c.energy / c.n_water for c in small])
    assert (table["relaxed"] <= table["at_reference"] + 1e-6).all()  # relaxing never raises the energy


# --- the notebook -----------------------------------------------------------------------------------


def test_notebook_records_what_the_files_hold(tiny, files, ttm_minima):
    values = recorded_values(run_notebook(NOTEBOOK, profile="test", data_dir=str(tiny)))
    for name, raw in files.items():
        assert values[f"n_{name}"] == len(raw)
        assert values[f"mean_epw_{name}"] == pytest.approx(np.mean(raw.energy / raw.size))
    assert values["n_datasets"] == 4
    mins, extra = files["min"], files["min_extrapolation"]
    sizes, counts = np.unique(mins.size, return_counts=True)
    assert (values["min_sizes"], values["min_smallest"], values["min_largest"]) == (len(sizes), sizes[0], sizes[-1])
    assert values["min_count_largest"] == counts[-1]

    # energies per water of the lowest minima (min and the extrapolation set) and the spread at the largest size
    all_size = np.concatenate([mins.size, extra.size])
    all_epw = np.concatenate([mins.energy, extra.energy]) / all_size
    assert values["lowest_epw_smallest"] == pytest.approx(all_epw[all_size == all_size.min()].min())
    assert values["lowest_epw_largest"] == pytest.approx(all_epw[all_size == all_size.max()].min())
    largest = mins.energy[mins.size == sizes[-1]] / sizes[-1]
    assert values["largest_epw_spread"] == pytest.approx(largest.max() - largest.min())

    # MD snapshots against minima of the same size
    frame = pd.DataFrame({"set": ["min"] * len(mins) + ["nonmin"] * len(files["nonmin"]),
                          "n": np.concatenate([mins.size, files["nonmin"].size]),
                          "epw": np.concatenate([mins.energy / mins.size, files["nonmin"].energy / files["nonmin"].size])})
    means = frame.groupby(["set", "n"])["epw"].mean().unstack(0).dropna()
    assert values["nonmin_shift"] == pytest.approx((means["nonmin"] - means["min"]).mean())

    # the second PES, paired with the AMOEBA2018 energy of the same geometry
    xtb = files["gfn2xtb"]
    diffs = []
    for i in range(len(xtb)):
        j = next(j for j in range(len(mins)) if mins.size[j] == xtb.size[i] and np.array_equal(mins[j].pos, xtb[i].pos))
        diffs.append((xtb.energy[i] - mins.energy[j]) / xtb.size[i])
    assert values["n_pairs"] == len(xtb)
    assert values["pes_offset"] == pytest.approx(np.mean(diffs))

    # O-H bonds of all minima (the test profile samples clusters per size; the tiny set has fewer)
    mol = [mins[i].pos.reshape(-1, 3, 3) for i in range(len(mins))]
    oh = np.concatenate([np.linalg.norm(m[:, 1:] - m[:, :1], axis=-1).ravel() for m in mol])
    assert values["oh_mean_min"] == pytest.approx(oh.mean(), abs=2e-3)
    assert values["oh_std_nonmin"] > values["oh_std_min"]

    # the comparison with the real TTM2.1-F minima W3-W15
    assert values["n_reference"] == 13
    assert values["n_compared"] == len({n for n in all_size if 3 <= n <= 15})
    assert 0.1 < values["potential_gap"] < 1.0  # AMOEBA2018 binds the TTM2.1-F minima less strongly
    assert 0 <= values["search_missed"] <= values["n_compared"]

    # the 3D view: the lowest minimum of the largest size
    k = int(np.flatnonzero(mins.size == sizes[-1])[np.argmin(mins.energy[mins.size == sizes[-1]])])
    assert values["view_size"] == sizes[-1] and values["view_energy"] == pytest.approx(mins.energy[k])
    assert values["view_hbonds"] == network_descriptors(mins[k])["hbonds"]

    # the card and the published numbers
    card = (tiny / "DATASET.md").read_text()
    table = card.split("### min: ")[1].split("###")[0]
    attempts = [int(r.split("|")[3]) for r in table.splitlines() if re.match(r"\| \d+ \|", r)]
    assert values["card_attempts"] == sum(attempts) and values["card_first_size"] == 3
    assert values["hydronet_clusters"] == 4_464_740 and values["pretrain_clusters"] == 2_726_710
    assert values["fraction_of_pretrain"] == pytest.approx(len(mins) / 2_726_710)
