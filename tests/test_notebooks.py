"""Every chapter of _toc.yml runs from a clean kernel with the test profile and records the right numbers."""
import json
import subprocess
import sys

import pytest

from notebook_harness import ROOT, recorded_values, run_notebook, toc_notebooks


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


CHECKS = {"00_quickstart": check_quickstart}


@pytest.mark.book
@pytest.mark.parametrize("notebook", toc_notebooks(), ids=lambda p: p.stem)
def test_chapter_runs_with_test_profile(notebook):
    assert notebook.stem in CHECKS, f"{notebook.name}: add its checks to CHECKS in {__file__}"
    executed = run_notebook(notebook, profile="test")
    values = recorded_values(executed)
    CHECKS[notebook.stem](values)


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
