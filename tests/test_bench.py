"""The bench command: every variant and task in one table with its ratios (tiny sizes; timings are not asserted)."""
import pytest

from hydronet_nb.cli import main
from hydronet_nb.evaluate.bench import (BASELINE, CSV_COLUMNS, FAST, INFERENCE, TRAIN_ENERGY, TRAIN_FORCES, bench_clusters,
                                        format_table, run_bench, throughput_comparison)
from hydronet_nb.model.schnet import SchNetConfig

SMALL = SchNetConfig(hidden_channels=16, num_filters=16, num_interactions=1, num_gaussians=10, k=8)


def test_bench_clusters_are_embedded_non_minima_of_the_asked_sizes():
    clusters = bench_clusters(5, 3, 4)
    assert [c.n_water for c in clusters] == [3, 4, 3, 4, 3]
    assert all(c.forces is not None and c.forces.shape == c.pos.shape for c in clusters)
    with pytest.raises(ValueError, match="no embedded non-minima with 90-91 waters"):
        bench_clusters(2, 90, 91)


@pytest.fixture(scope="module")
def table():
    return run_bench(n_clusters=4, batch_size=2, min_water=3, max_water=5, repeats=1, md_steps=2, device="cpu",
                     config=SMALL, md_sizes=(10,))


def test_bench_table_has_every_variant_task_and_ratio(table):
    tasks = [TRAIN_ENERGY, TRAIN_FORCES, INFERENCE]
    expected = [[v, t] for v in (BASELINE, FAST) for t in tasks] + [[v, "md W10"] for v in (BASELINE, FAST, "zero-cost")]
    assert table[["variant", "task"]].values.tolist() == expected
    assert (table.clusters_per_s > 0).all() and (table[table.variant == BASELINE].speed_vs_pyg == 1.0).all()
    by = table.set_index(["variant", "task"])
    for task in tasks:
        ratio = by.loc[(FAST, task), "clusters_per_s"] / by.loc[(BASELINE, task), "clusters_per_s"]
        assert by.loc[(FAST, task), "speed_vs_pyg"] == pytest.approx(ratio)
    md = by.loc[(FAST, "md W10")]
    assert md.clusters == 1 and md.atoms == 30 and md.seconds == pytest.approx(1 / md.clusters_per_s)
    assert (table[table.variant == BASELINE].gflop_per_cluster > 0).all()  # the profiler counted matrix products
    text = format_table(table)
    assert "speed x" in text and "4 embedded non-minima W3-5 in batches of 2" in text and "GFLOP/s" in text


def test_throughput_comparison_puts_this_machine_beside_the_published_hardware(table):
    shown = throughput_comparison(table)
    assert shown.hardware.str.contains("Bow IPUs (published)", regex=False).any()
    assert shown.hardware.str.contains("fast SchNet", regex=False).sum() == 1
    assert shown.hardware.str.contains("PyG's SchNet", regex=False).sum() == 1


def test_bench_command_prints_csv(capsys):
    assert main(["bench", "--clusters", "2", "--min-water", "3", "--max-water", "3", "--repeats", "1", "--k", "4",
                 "--md-steps", "1", "--md-sizes", "10", "--device", "cpu", "--threads", "1", "--csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == ",".join(CSV_COLUMNS) and len(lines) == 1 + 6 + 3
    assert lines[1].startswith("cpu,1,pyg,train energy,2,")
