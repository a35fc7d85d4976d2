import io
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from hydronet_nb.cli import main
from hydronet_nb.io.reference_files import ttm21f_minima_paths


def test_predict_published_on_real_minima_as_csv(capsys):
    paths = [str(p) for p in ttm21f_minima_paths()]
    assert main(["predict", "--model", "published", "--csv", *paths]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(table.columns) == ["source", "n_water", "energy", "energy_per_water", "reference", "error", "error_per_water", "max_force"]
    assert len(table) == 13
    assert table["error_per_water"].abs().mean() == pytest.approx(0.0042, abs=0.0003)
    assert table.loc[table.n_water == 10, "energy"].item() == pytest.approx(-94.680, abs=0.001)
    assert (table["energy_per_water"] * table["n_water"]).to_numpy() == pytest.approx(table["energy"].to_numpy(), rel=1e-5)


def test_predict_table_for_people(capsys):
    assert main(["predict", str(ttm21f_minima_paths([10])[0])]) == 0
    out = capsys.readouterr().out
    assert "-94.6800" in out and "-94.6707" in out and "MAE per water over 1 structures" in out


def test_predict_file_without_energy_has_no_error_column_values(tmp_path, capsys):
    path = tmp_path / "noenergy.xyz"
    path.write_text("3\n\nO 0 0 0\nH 0.96 0 0\nH -0.24 0.93 0\n")
    assert main(["predict", "--csv", str(path)]) == 0
    row = pd.read_csv(io.StringIO(capsys.readouterr().out)).iloc[0]
    assert pd.isna(row["reference"]) and pd.isna(row["error"]) and row["n_water"] == 1


def test_bad_input_is_a_clear_error_not_a_traceback(tmp_path, capsys):
    bad = tmp_path / "methane.xyz"
    bad.write_text("5\n\nC 0 0 0\nH 1 0 0\nH 0 1 0\nH 0 0 1\nH 1 1 1\n")
    assert main(["predict", str(bad)]) == 2
    assert "methane.xyz: line 3: element 'C' is not O or H" in capsys.readouterr().err
    assert main(["predict", "--model", str(tmp_path / "none.pt"), str(ttm21f_minima_paths([3])[0])]) == 2
    assert "none.pt: no such checkpoint file" in capsys.readouterr().err
    text = tmp_path / "notes.pt"
    text.write_text("hello\n")  # a text file: torch.load's unpickler raises KeyError
    assert main(["predict", "--model", str(text), str(ttm21f_minima_paths([3])[0])]) == 2
    err = capsys.readouterr().err
    assert "notes.pt: not a readable PyTorch checkpoint" in err and len(err.strip().splitlines()) == 1


def test_installed_entry_points():
    script = Path(sys.executable).parent / "hydronet-nb"
    for cmd in ([str(script), "info"], [sys.executable, "-m", "hydronet_nb", "info"]):
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        assert "torch_geometric" in out
        assert "device           cpu" in out or "device           cuda" in out
