"""Every chapter of _toc.yml runs from a clean kernel with the test profile and records the right numbers."""
import json
import re
import subprocess
import sys

import pytest

from notebook_harness import ROOT, eval_problems, glue_problems, recorded_values, run_notebook, toc_notebooks


def check_quickstart(v):
    assert v["n_minima"] == 13
    assert v["n_parameters"] > 100_000
    assert v["mae_per_water"] == pytest.approx(0.0042, abs=0.0003)
    assert v["w10_energy"] == pytest.approx(-94.680, abs=0.001)
    assert v["w10_reference"] == pytest.approx(-94.6707, abs=1e-4)
    assert 20 < v["max_force_min"] < v["max_force_max"] < 100
    # following the published model's forces from the TTM2.1-F minimum breaks molecules
    assert v["relax_energy_drop"] < -5 and v["relax_rmsd"] > 0.1 and v["relax_steps_taken"] >= 1
    assert v["relax_oh_min"] < 0.8 or v["relax_oh_max"] > 1.3
    assert v["md_max_oh_ttm"] < 1.1 < 5 < v["md_max_oh_pretrained"]


def check_data_exploration(v):
    """Chapter 1 on the embedded data set: the counts the issue asks for, read back from the files."""
    from hydronet_nb.data import datasets as D
    from hydronet_nb.io.pnnl import read_pnnl_hdf5

    files = {name: read_pnnl_hdf5(D.data_file(name)) for name in D.GENERATED}
    for name, data in files.items():
        assert v[f"n_{name}"] == len(data)
    sizes = files["min"].size
    assert v["n_min"] >= 10_000 and (sizes >= 20).sum() >= 1_000
    assert (v["min_smallest"], v["min_largest"]) == (3, 25)
    assert v["n_min_extrapolation"] >= 300 and set(files["min_extrapolation"].size) == set(range(26, 31))
    assert v["n_nonmin"] >= 5_000 and v["n_gfn2xtb"] == 5_000 == v["n_pairs"]
    assert v["n_reference"] == 13 and v["nonmin_shift"] > 0 and v["oh_std_nonmin"] > v["oh_std_min"]
    assert -12 < v["lowest_epw_largest"] < v["lowest_epw_smallest"] < -4  # kcal/mol per water, binding grows with size


def check_pretraining(v):
    """Chapter 2: packing as Graphcore published it, the published model reproduced, training that learns."""
    from hydronet_nb.model import shipped as pretrained
    from hydronet_nb.model.published import load_published_model

    assert v["n_parameters"] == sum(p.numel() for p in load_published_model().parameters())
    assert v["graph_edges"] == 28 * 3 * v["graph_waters"] and v["graph_waters"] == 25
    assert v["graph_radius_edges"] > v["graph_edges"]  # the kNN graph is sparser than the 6 Angstrom radius graph
    assert v["pack_efficiency"] == pytest.approx(0.981, abs=0.001) and v["n_packs"] == pytest.approx(911_401, rel=0.002)
    assert v["packing_seconds"] < 1.0 and v["padding_efficiency"] < 0.85
    assert v["packed_energy_difference"] < 1e-3
    assert v["ipu16_clusters_per_s"] == pytest.approx(2_726_710 / 21.4)
    assert v["measured_clusters_per_s"] > 0 and v["epoch_hours_here"] > 0
    assert v["demo_last_val_mae"] < v["demo_first_val_mae"]
    assert v["shipped_epochs"] == len(pretrained.learning_curve())
    assert v["shipped_test_mae"] < v["published_on_amoeba"]  # the book's model knows its own potential best
    assert v["published_on_ttm"] == pytest.approx(0.0042, abs=0.0003)
    assert v["shipped_on_ttm"] > 5 * v["published_on_ttm"]  # ... and the paper's model its own


def check_force_finetuning(v):
    """Chapter 3: the demo's rounds, the shipped models' ordering, the studies read back from their tables."""
    from hydronet_nb.finetune.studies import efficiency_means, read_tables

    assert v["demo_rounds"] == 2 and v["demo_added"] >= 0 and v["demo_epochs"] == 4
    assert v["erfinv_factor"] == pytest.approx(1.0179, abs=1e-4) and v["energy_weight"] == 0.05
    assert v["pre_min_force"] > 5 and v["pre_non_force_mae"] > 5  # minima taught no forces
    assert v["finetuned_force_mae"] * 3 <= v["pretrained_force_mae"]
    assert v["finetuned_force_mae"] < v["scratch_force_mae"]
    assert v["force_ratio"] == pytest.approx(v["pretrained_force_mae"] / v["finetuned_force_mae"])
    assert 0 <= v["finetuned_f_ang"] < v["pretrained_f_ang"] <= 1
    tables = read_tables()
    means = efficiency_means(tables["summary"])
    assert str(v["effic_always"]) == str(bool(means["pretrained_wins"].all()))  # glue keeps the text
    assert v["effic_pre_small"] == pytest.approx(means["force_mae"]["pretrained"].iloc[0])
    cg = tables["summary"].query("study == 'create_graph'").set_index("create_graph")
    assert v["cg_ratio"] == pytest.approx(cg.loc[False, "force_mae"] / cg.loc[True, "force_mae"])
    assert v["sel_seeds"] >= 2


def check_molecular_dynamics(v):
    """Chapter 5: the live runs and the shipped study say what the paper says, and the checks are the detector's."""
    from hydronet_nb.md.stability import Criteria
    from hydronet_nb.md.study import read_tables

    assert v["live_finetuned_intact"] == 1.0 and v["live_finetuned_bound"] == 1.0
    assert v["live_pretrained_intact"] == 0.0 and 0 < v["live_pretrained_failed_fs"] < 50
    assert v["max_oh"] == Criteria().max_oh and v["md_steps"] == 1000 and v["md_dt"] == 0.1
    runs = read_tables()["runs"].query("part == 'grid'")
    fine = runs[runs.model == "finetuned"]
    assert len(fine) == 30 and fine["intact"].all() and (fine["bound_fraction"] == 1).all()  # the target
    assert not runs[runs.model == "pretrained"]["intact"].any()
    assert str(v["fine_all_intact"]) == "True" and v["study_seeds"] == 10
    assert v["graphcore_max_oh"] > 5  # the published pretrained-only trajectory comes apart
    assert v["nve_amoeba_max_excursion"] < 0.1 and v["switch_total"] >= v["switch_frames"] >= 0
    assert v["bench_speedup"] > 0


def check_pes_transfer(v):
    """Chapter 4: the surfaces as chapter 1 measured them, the shipped Table 2, the study read back from its table."""
    from hydronet_nb.transfer import analysis
    from hydronet_nb.transfer.studies import read_summary

    assert v["n_pairs"] == v["n_new"] == 5_000 and v["pes_r"] > 0.9 and v["pes_spread"] > 0
    assert v["new_potential"] == "GFN2-xTB" and v["old_potential"] == "AMOEBA2018"
    assert v["demo_samples"] == 32 and v["demo_epochs"] == 2 and v["demo_minutes"] > 0
    assert v["scaled_mae"] < v["pre_new_mae"]  # two fitted numbers already help ...
    assert v["t2_transfer_GFN2_xTB"] < v["scaled_mae"]  # ... finetuning the network helps more
    assert v["t2_transfer_GFN2_xTB"] < v["t2_scratch_transfer_GFN2_xTB"]
    assert v["t2_ratio"] == pytest.approx(v["t2_scratch_transfer_GFN2_xTB"] / v["t2_transfer_GFN2_xTB"])
    assert v["t2_transfer_AMOEBA2018"] > v["t2_pretrained_AMOEBA2018"]
    assert v["paper_ratio"] == pytest.approx(0.0719 / 0.0122)
    means = analysis.curve_means(read_summary())
    assert v["eff_ratio_small"] == pytest.approx(means["ratio"].iloc[0])
    assert v["eff_small"] == 50 and v["eff_large"] == 4000 and v["strat_small"] == 250
    # the published weights moved with the same recipe: better than before, and than the book's own start
    assert v["pt_mae"] < v["t2_transfer_GFN2_xTB"] < v["pt_before"]
    assert v["pt_ratio"] == pytest.approx(v["t2_scratch_transfer_GFN2_xTB"] / v["pt_mae"])
    assert v["pt_best"] <= v["pt_epochs"] and v["pretrain_minima"] == 8_000


CHECKS = {"00_quickstart": check_quickstart, "01_data_exploration": check_data_exploration,
          "02_ipu_pretraining": check_pretraining, "03_force_finetuning": check_force_finetuning,
          "04_pes_transfer": check_pes_transfer,
          "05_molecular_dynamics": check_molecular_dynamics}


@pytest.mark.book
@pytest.mark.parametrize("notebook", toc_notebooks(), ids=lambda p: p.stem)
def test_chapter_runs_with_test_profile(notebook):
    assert notebook.stem in CHECKS, f"{notebook.name}: add its checks to CHECKS in {__file__}"
    executed = run_notebook(notebook, profile="test")
    values = recorded_values(executed)
    CHECKS[notebook.stem](values)
    assert not glue_problems(executed), f"{notebook.name}: the -W build would warn"
    # every value the prose quotes is there when a live kernel reaches it (Run All in JupyterLab)
    assert not eval_problems(executed), f"{notebook.name}: {eval_problems(executed)}"
    # the header's "This page" row: measured by the run itself, not typed
    assert values["page_profile"] == "test" and 0 < values["page_minutes"] < 15
    assert "cores" in values["page_hardware"]


def test_every_chapter_has_a_parameters_cell():
    for notebook in toc_notebooks():
        cells = json.loads(notebook.read_text())["cells"]
        tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{notebook.name}: needs exactly one cell tagged 'parameters'"
        assert "profile" in "".join(tagged[0]["source"])


def test_notebooks_are_committed_without_outputs():
    tracked = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert tracked, "no notebooks tracked"
    for name in tracked:
        cells = json.loads((ROOT / name).read_text())["cells"]
        dirty = [i for i, c in enumerate(cells) if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
        assert not dirty, f"{name}: cells {dirty} carry outputs; strip them (nbstripout)"


def test_every_chapter_ends_with_exercises_and_a_quiz():
    """2-4 exercises (predict, read a plot, extend the code), each with a hidden solution; then a quiz, each
    question with a hidden answer."""
    for notebook in toc_notebooks():
        text = "\n".join("".join(c["source"]) for c in json.loads(notebook.read_text())["cells"]
                          if c["cell_type"] == "markdown")
        assert "## Exercises" in text, f"{notebook.name}: no exercises"
        exercises, _, quiz = text.split("## Exercises", 1)[1].partition("### Check yourself")
        kinds = re.findall(r"^\d\. \*\*(.+?)\*\*", exercises, flags=re.M)
        assert 2 <= len(kinds) <= 4, f"{notebook.name}: {len(kinds)} exercises"
        assert {"Predict, then run.", "Read the plot.", "Extend the code."} <= set(kinds), (notebook.name, kinds)
        assert exercises.count(":::{admonition} Solution\n   :class: dropdown") == len(kinds), notebook.name
        questions = re.findall(r"^\d\. .+\?", quiz, flags=re.M)
        assert len(questions) >= 2, f"{notebook.name}: the quiz needs questions"
        assert quiz.count(":::{admonition} Answer\n   :class: dropdown") == len(questions), notebook.name


# --- the chapters on a folder of minima only (PNNL's layout: no non-minima, no second PES, no card) -------


@pytest.fixture(scope="module")
def minima_only(tmp_path_factory):
    """Six embedded minima of each size W3-W25 with a split file, and nothing else."""
    import numpy as np

    from hydronet_nb.data import datasets as D
    from hydronet_nb.data.splits import sample_rows, split_indices
    from hydronet_nb.io.pnnl import write_pnnl_hdf5, write_split

    folder = tmp_path_factory.mktemp("minima-only")
    embedded = D.load_dataset("min")
    minima = embedded[sample_rows(embedded.size, 6, seed=1)]
    write_pnnl_hdf5(folder / "min_data.hdf5", minima)
    write_split(folder / "split_00_min.npz", **split_indices(len(minima), (0.8, 0.1, 0.1), np.random.default_rng(0)))
    assert sorted(p.name for p in folder.iterdir()) == ["min_data.hdf5", "split_00_min.npz"]
    return folder


@pytest.mark.book
@pytest.mark.full
@pytest.mark.parametrize("stem", ["01_data_exploration", "02_ipu_pretraining"])
def test_chapters_on_a_folder_of_minima_only_cite_only_what_they_record(minima_only, tmp_path, stem):
    """Every glue key a chapter quotes is recorded on this path too, so the book builds with -W on such a folder."""
    extra = {"run_dir": str(tmp_path / "run")} if stem.startswith("02") else {}
    executed = run_notebook(ROOT / "notebooks" / f"{stem}.ipynb", profile="test", data_dir=str(minima_only), **extra)
    assert not glue_problems(executed) and not eval_problems(executed)
    values = recorded_values(executed)
    if stem.startswith("01"):
        from hydronet_nb.io.pnnl import read_pnnl_hdf5

        assert values["n_datasets"] == 1 and "n_nonmin" not in values
        assert values["n_min"] == len(read_pnnl_hdf5(minima_only / "min_data.hdf5"))
    else:
        assert values["demo_epochs"] >= 1 and "shipped_extrapolation_mae" not in values


def test_code_cells_are_short_with_short_lines():
    """Notebooks read like a book: code cells of at most 20 lines of at most 88 characters."""
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for k, cell in enumerate(json.loads(notebook.read_text())["cells"]):
            if cell["cell_type"] != "code":
                continue
            lines = "".join(cell["source"]).splitlines()
            assert len(lines) <= 20, f"{notebook.name} cell {k}: {len(lines)} lines"
            long = [line for line in lines if len(line) > 88]
            assert not long, f"{notebook.name} cell {k}: a line of {len(long[0])} characters"


@pytest.fixture(scope="module")
def two_surfaces_pnnl(tmp_path_factory):
    """PNNL's layout for chapter 4's ``full`` path: ``min_data.hdf5`` and ``mbpol_data.hdf5`` on the same geometries
    (the embedded AMOEBA2018 minima and their GFN2-xTB energies standing in), each with a split, no card."""
    import numpy as np

    from hydronet_nb.data import datasets as D
    from hydronet_nb.data.explore import match_rows
    from hydronet_nb.data.splits import sample_rows, split_indices
    from hydronet_nb.io.pnnl import write_pnnl_hdf5, write_split

    folder = tmp_path_factory.mktemp("two-surfaces")
    minima, second = D.load_dataset("min"), D.load_dataset("gfn2xtb")
    picked = second[sample_rows(second.size, 6, seed=2)]
    rows = match_rows(minima, picked)
    assert (rows >= 0).all()
    for name, data in (("min", minima[rows]), ("mbpol", picked)):
        write_pnnl_hdf5(folder / f"{name}_data.hdf5", data)
        write_split(folder / f"split_00_{name}.npz",
                    **split_indices(len(data), (0.6, 0.2, 0.2), np.random.default_rng(0)))
    return folder


@pytest.mark.book
@pytest.mark.full
def test_transfer_chapter_on_pnnl_layout_moves_the_published_model(two_surfaces_pnnl, tmp_path):
    """Chapter 4 with ``data_dir`` in PNNL's layout and the paper's weights as the live start (its ``full`` path)."""
    executed = run_notebook(ROOT / "notebooks" / "04_pes_transfer.ipynb", profile="test",
                            data_dir=str(two_surfaces_pnnl), start="published", run_dir=str(tmp_path / "run"))
    assert not glue_problems(executed)
    values = recorded_values(executed)
    assert (values["old_potential"], values["new_potential"]) == ("TTM2.1-F", "MB-pol")
    assert values["n_pairs"] == values["n_new"] and values["start"] == "published"
    assert values["demo_samples"] == 32
