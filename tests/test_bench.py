"""The bench command: a table with every variant and its ratios (tiny sizes; timings are not asserted)."""
import numpy as np

from hydronet_nb.evaluate.bench import BASELINE, bench_clusters, format_table, run_bench
from hydronet_nb.cli import main
from hydronet_nb.model.schnet import SchNetConfig


def test_bench_clusters_are_water_of_the_asked_sizes():
    clusters = bench_clusters(5, 3, 4)
    assert [c.n_water for c in clusters] == [3, 4, 3, 4, 3]
    for c in clusters:
        oh = np.linalg.norm(c.pos.reshape(-1, 3, 3)[:, 1:] - c.pos.reshape(-1, 3, 3)[:, :1], axis=-1)
        assert np.allclose(oh, 0.9572, atol=1e-4) and c.forces.shape == c.pos.shape


def test_bench_table_has_every_variant_and_ratios_to_the_baseline():
    small = SchNetConfig(hidden_channels=16, num_filters=16, num_interactions=1, num_gaussians=10, k=8)
    table = run_bench(n_clusters=4, batch_size=2, min_water=3, max_water=5, steps=1, device="cpu", config=small,
                      pack_atoms=48)
    assert table[["step", "variant"]].values.tolist() == [
        [step, variant] for step in ("energy", "energy+forces") for variant in (BASELINE, "ours", "ours packed")]
    assert (table.clusters_per_s > 0).all()
    assert BASELINE == "PyG SchNet with a dense kNN graph"  # named for what it is, not "stock PyG"
    assert (table[table.variant == BASELINE].speed_vs_baseline == 1.0).all()
    ours = table.set_index(["step", "variant"])
    for step in ("energy", "energy+forces"):
        expected = ours.loc[(step, "ours packed"), "clusters_per_s"] / ours.loc[(step, BASELINE), "clusters_per_s"]
        assert ours.loc[(step, "ours packed"), "speed_vs_baseline"] == expected
    assert table["memory"].iloc[0] in ("peak RSS increase (Linux VmHWM)", "n/a (needs Linux /proc)")
    text = format_table(table)
    assert "speed x" in text and "memory x" in text and "4 clusters W3-5 in batches of 2" in text


def test_bench_command_prints_the_table(capsys):
    assert main(["bench", "--clusters", "2", "--min-water", "3", "--max-water", "3", "--steps", "1", "--k", "4",
                 "--pack-atoms", "24", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "ours packed" in out and BASELINE in out and "k': 4" in out
