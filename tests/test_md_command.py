"""``hydronet-nb md``: runs that resume to the same frames, ASE and batched engines agreeing, the CLI as documented."""
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from hydronet_nb.md.command import run_md
from hydronet_nb.md.runs import FRAMES_CSV, FRAMES_XYZ, SUMMARY, read_frames


def frames(folder):
    return pd.read_csv(folder / FRAMES_CSV)


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("md") / "straight"
    run_md("pretrained", 10, seeds=[0], steps=40, every=10, out=out, reference=None, log=lambda *a: None)
    return out / "pretrained-W10-seed0"


def test_a_stopped_run_continues_to_the_same_frames(straight, tmp_path):
    out = tmp_path / "stopped"
    run_md("pretrained", 10, seeds=[0], steps=20, every=10, out=out, reference=None, log=lambda *a: None)
    run = out / "pretrained-W10-seed0"
    (run / SUMMARY).unlink()  # as if killed after the frame of step 20 ...
    with open(run / FRAMES_CSV, "a") as f:  # ... and half way through writing the next one
        f.write("30,3.0,-1,1,1,1,1,1,1,True,,True\n")
    run_md("pretrained", 10, seeds=[0], steps=40, every=10, out=out, reference=None, log=lambda *a: None)
    a, b = frames(straight), frames(run)
    assert a["step"].tolist() == b["step"].tolist() == [0, 10, 20, 30, 40]
    np.testing.assert_array_equal(a["energy"], b["energy"])
    np.testing.assert_array_equal(read_frames(straight)[-1].positions, read_frames(run)[-1].positions)


def test_batched_engine_writes_the_frames_ase_writes(straight, tmp_path):
    table = run_md("pretrained", 10, seeds=[0, 1], steps=40, every=10, out=tmp_path, batched=True, reference=None,
                   log=lambda *a: None)
    assert table["engine"].tolist() == ["batched", "batched"] and table["intact"].all()
    a, b = frames(straight), frames(tmp_path / "pretrained-W10-seed0")
    np.testing.assert_allclose(a["energy"], b["energy"], atol=1e-3)
    np.testing.assert_allclose(read_frames(straight)[-1].positions, read_frames(tmp_path / "pretrained-W10-seed0")[-1]
                               .positions, atol=1e-5)


def test_md_command_line_as_documented(tmp_path):
    result = subprocess.run([sys.executable, "-m", "hydronet_nb", "md", "--model", "pretrained", "--size", "3",
                             "--seeds", "2", "--steps", "20", "--out", str(tmp_path)], capture_output=True, text=True,
                            check=True, env={"OMP_NUM_THREADS": "1", **__import__("os").environ})
    assert "bound_fraction" in result.stdout
    summary = json.loads((tmp_path / "pretrained-W3-seed1" / SUMMARY).read_text())
    assert summary["frames"] == 3 and summary["steps"] == 20 and summary["bound_fraction"] is not None
    table = frames(tmp_path / "pretrained-W3-seed1")
    assert table["reference_energy"].notna().all() and (table["pieces"] == 1).all()
    from ase.io import read

    atoms = read(tmp_path / "pretrained-W3-seed1" / FRAMES_XYZ, ":")
    assert len(atoms) == 3 and atoms[-1].get_forces().shape == (9, 3)


def test_md_study_runs_resumes_and_exports(tmp_path):
    from hydronet_nb.md import study

    path = tmp_path / "study.yaml"
    path.write_text("grid: {models: [pretrained, amoeba], sizes: [3], seeds: 2, steps: 20}\n"
                    "published: {model: published, start: ttm21f, size: 3, seeds: 1, steps: 10}\n"
                    "keep: [grid/pretrained-W3-seed0]\noutput: out\n")
    config = study.read_study_config(path)
    tables = study.run_study(config, log=lambda *a: None)
    again = study.run_study(config, log=lambda *a: None)
    pd.testing.assert_frame_equal(tables["frames"], again["frames"])
    runs = tables["runs"]
    assert len(runs) == 2 * 2 + 1 and set(runs["engine"]) == {"ase", "batched"}
    assert len(tables["frames"]) == 4 * 3 + 2
    card = study.export_study(config, tmp_path / "shipped", "md-study", 1.0)
    assert (tmp_path / "shipped" / "trajectories" / "grid-pretrained-W3-seed0.xyz").is_file()
    assert "frames.csv" in card.read_text()


def test_a_run_continues_to_more_steps_and_refuses_other_settings(straight, tmp_path):
    from hydronet_nb.errors import ConfigError

    out = tmp_path / "grow"
    run_md("pretrained", 10, seeds=[0], steps=20, every=10, out=out, reference=None, log=lambda *a: None)
    table = run_md("pretrained", 10, seeds=[0], steps=40, every=10, out=out, reference=None, log=lambda *a: None)
    assert table["steps"].tolist() == [40]
    np.testing.assert_array_equal(frames(straight)["energy"], frames(out / "pretrained-W10-seed0")["energy"])
    with pytest.raises(ConfigError, match=r"other settings \(dt: 0.1 -> 0.2\)"):
        run_md("pretrained", 10, seeds=[0], steps=40, dt=0.2, every=10, out=out, reference=None, log=lambda *a: None)


def test_the_shipped_finetuned_model_keeps_a_w10_run_intact(tmp_path):
    torch.set_num_threads(1)
    table = run_md("finetuned", 10, seeds=[0, 1], steps=200, every=20, out=tmp_path, batched=True, log=lambda *a: None)
    assert table["intact"].all() and (table["bound_fraction"] == 1.0).all()
    pretrained = run_md("pretrained", 10, seeds=[0], steps=200, every=10, out=tmp_path, batched=True,
                        log=lambda *a: None)
    assert not pretrained["intact"].any() and pretrained["failed_fs"].iloc[0] < 20
