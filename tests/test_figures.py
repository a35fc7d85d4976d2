"""The book's figures: the overlapping-text check itself, and every plot function of the four plot modules drawn
from small synthetic tables shaped like the chapters' (same columns, names and ranges, the chapters' figure
sizes), with no two texts over each other."""
from __future__ import annotations

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from hydronet_nb.book import figure_check  # noqa: E402
from hydronet_nb.book import force_plots, md_plots, plots, transfer_plots  # noqa: E402

RNG = np.random.default_rng(0)
SIZES = list(range(3, 26))
REF = "AMOEBA2018 E of the frame (kcal/mol)"  # chapter 5's label


# --- synthetic tables, shaped like the chapters' ----------------------------------------------------


def prediction_table():
    n = np.array(SIZES)
    reference = -10.0 * n + RNG.normal(0, 2, len(n))
    energy = reference + RNG.normal(0, 0.5, len(n))
    return pd.DataFrame({"n_water": n, "reference": reference, "energy": energy,
                         "error_per_water": (energy - reference) / n})


def energies_table(datasets=("min", "nonmin")):
    rows = [{"dataset": d, "n_water": n, "energy": -10.0 * n + RNG.normal(0, 3)}
            for d in datasets for n in SIZES for _ in range(RNG.integers(3, 9))]
    table = pd.DataFrame(rows)
    return table.assign(energy_per_water=table["energy"] / table["n_water"])


def metrics_table(epochs=40, forces=False):
    e = np.arange(1, epochs + 1)
    table = pd.DataFrame({"epoch": e, "train_loss": 50 / e, "val_loss": 60 / e, "val_mae_per_water": 0.5 / np.sqrt(e)})
    if forces:
        table["val_force_mse"] = 9.0 / e
    return table


def efficiency_table(starts=("pretrained", "scratch"), sizes=(250, 500, 1000, 2000)):
    rows = [{"start": s, "n_train": n, "seed": seed,
             "force_mae": (1.5 if s == "scratch" else 0.8) * n ** -0.2 * (1 + 0.05 * seed),
             "mae_per_water": (0.2 if s == "scratch" else 0.05) * n ** -0.15 * (1 + 0.05 * seed)}
            for s in starts for n in sizes for seed in range(3)]
    return pd.DataFrame(rows)


def additions_table():
    rows = [{"round": r, "rule": rule, "n_water": int(RNG.integers(3, 26)), "error": float(RNG.lognormal(0, 1)),
             "threshold": 2.0 + r if rule == "active" else np.nan, "seed": 0}
            for r in range(1, 5) for rule in ("active", "random") for _ in range(30)]
    return pd.DataFrame(rows)


def md_frames(models=("amoeba", "finetuned", "scratch-forces", "pretrained", "published"), sizes=(10, 20, 30)):
    t = np.arange(0, 1001, 10.0)
    rows = [pd.DataFrame({"model": m, "size": s, "seed": seed, "time_fs": t,
                          "energy": -10.0 * s + RNG.normal(0, 1, len(t)) + (0.05 * t if m == "pretrained" else 0)})
            for m in models for s in sizes for seed in range(2)]
    frames = pd.concat(rows, ignore_index=True)
    return frames.assign(reference_energy=frames["energy"] + RNG.normal(0, 0.3, len(frames)))


def survival_table(models=("amoeba", "finetuned", "scratch-forces", "pretrained", "published"), sizes=(10, 20, 30)):
    t = np.linspace(0, 1000, 101)
    rows = [pd.DataFrame({"model": m, "size": s, "time_fs": t,
                          "intact_fraction": np.where(t < 100 * (k + 1) * s / 10, 1.0, 0.5)})
            for k, m in enumerate(models) for s in sizes]
    return pd.concat(rows, ignore_index=True)


def graphcore_trajectories():
    t = np.arange(0, 101, 1.0)
    growth = {"TTM2.1-F (reference)": 0.0, "pretrained only (published)": 7.0, "pretrained + finetuned": 0.0,
              "scratch on non-minima": 1.3}
    return pd.concat([pd.DataFrame({"model": m, "time_fs": t, "max_OH": 1.0 + g * (t / 100) + 0.02 * np.sin(t)})
                      for m, g in growth.items()], ignore_index=True)


def bench_table(repeats=1):
    tasks = ["train (energies)", "train (energies + forces)", "inference", "md W10", "md W20"]
    rows = [{"variant": v, "task": t, "repeat": r, "speed_vs_pyg": (2.0 + i + 0.1 * r if v == "fast" else 1.0)
             * (18 if t == "md W20" and r == 0 else 1)}
            for v in ("fast", "pyg") for i, t in enumerate(tasks) for r in range(repeats)]
    table = pd.DataFrame(rows)
    table.attrs.update(device="cpu", threads=2)
    return table


# --- every plot function, as the chapters call it ---------------------------------------------------


def _quickstart(m):
    table = prediction_table()
    forces = [RNG.normal(0, 1, (3 * n, 3)) for n in table["n_water"]]
    return {
        "energies_and_errors": lambda: m.plots.energies_and_errors(table),
        "forces_by_size": lambda: m.plots.forces_by_size(table, forces).set_title(
            "forces the published model predicts at TTM2.1-F minima (truth: about 0)"),
        "energy_path": lambda: m.plots.energy_path(np.cumsum(-RNG.random(40)), xlabel="optimiser step").set_title(
            "relaxing W10 on the published model"),
        "longest_bond": lambda: m.plots.longest_bond(graphcore_trajectories()).set_title(
            "published (H$_2$O)$_{10}$ MD trajectories, 300 K"),
    }


def _chapter1(m):
    energies = energies_table()
    palette = m.plots.dataset_palette(["min", "nonmin"])
    lowest = energies.groupby("n_water", as_index=False)[["energy", "energy_per_water"]].min()
    pairs = pd.DataFrame({"n_water": np.repeat(SIZES, 4), "first": RNG.normal(-9, 0.5, 4 * len(SIZES))})
    pairs["second"] = pairs["first"] + RNG.normal(0.3, 0.1, len(pairs))
    distances = pd.concat([pd.DataFrame({"pair": pair, "dataset": d, "distance": RNG.normal(mu, sd, 400)})
                           for pair, mu, sd in (("O...O", 4.5, 1.5), ("O-H", 0.975, 0.01)) for d in ("min", "nonmin")])
    rows = 6 * len(SIZES)
    networks = pd.DataFrame({"dataset": np.repeat(["min", "nonmin"], rows // 2),
                             "n_water": np.tile(np.repeat(SIZES, 3), 2), "hbonds_per_water": RNG.normal(1.5, 0.1, rows),
                             "free_oh_fraction": RNG.uniform(0.1, 0.3, rows)})
    n = np.arange(3, 16)
    compare = pd.DataFrame({"n_water": n, "reference": -5 - 0.3 * n, "at_reference": -4.8 - 0.3 * n,
                            "relaxed": -5.1 - 0.3 * n, "lowest": np.where(n < 12, -5.05 - 0.3 * n, np.nan)})
    return {
        "sizes_histogram": lambda: m.plots.sizes_histogram(energies, palette).set_title(
            "clusters per size in each data set"),
        "energy_against_size": lambda: m.plots.energy_against_size(energies, lowest, palette),
        "distributions": lambda: m.plots.distributions(energies, "energy_per_water", palette).set_title(
            "energy per water in each data set (each normalised to 1)"),
        "pair_scatter": lambda: m.plots.pair_scatter(pairs, "AMOEBA2018", "GFN2-xTB").set_title(
            "the same minima on two potentials"),
        "distance_histograms": lambda: m.plots.distance_histograms(distances, palette),
        "network_trends": lambda: m.plots.network_trends(networks, palette),
        "reference_minima": lambda: m.plots.reference_minima(compare).set_title(
            "lowest minima per size on two potentials"),
    }


def _speed_and_throughput(m, repeats):
    _, (left, right) = plt.subplots(1, 2, figsize=(13, 4))
    m.plots.speed_bars(bench_table(repeats), ax=left)
    shown = pd.DataFrame({"hardware": ["16 Bow IPUs (published)", "64 Bow IPUs (published)",
                                       "4 V100 GPUs (published, 0.5M set)",
                                       "this machine, cpu x 2 threads (fast SchNet)",
                                       "this machine, cpu x 2 threads (PyG's SchNet)"],
                          "clusters_per_s": [8000, 30000, 900, 250, 60]})
    m.plots.throughput_bars(shown, ax=right)
    right.set_title("pretraining SchNet: published hardware and this machine")


def _chapter2(m):
    sweep = pd.DataFrame({"max_atoms": np.arange(80, 401, 8)})
    sweep["packing"] = 0.9 + 0.09 * np.sin(sweep["max_atoms"] / 30) ** 2
    sweep["padding"] = 0.55 + 0.0 * sweep["max_atoms"]
    errors = pd.DataFrame({"set": np.repeat(["test", "larger minima"], 40), "n_water": RNG.integers(3, 31, 80)})
    errors["reference"] = -9.5 * errors["n_water"] + RNG.normal(0, 2, 80)
    errors["predicted"] = errors["reference"] + RNG.normal(0, 1, 80)
    by_size = pd.DataFrame({"n_water": np.arange(3, 31), "mae_per_water": RNG.uniform(0.01, 0.05, 28),
                            "set": ["test"] * 23 + ["larger minima"] * 5})

    def curves(title):
        axes = m.plots.learning_curves(metrics_table())
        axes[0].set_title(title)
        axes[1].set_title("validation error")

    return {
        "packing_sweep": lambda: m.plots.packing_sweep(sweep, marked=154).set_title(
            "HydroNet W3-W25 (2.7M clusters): how full the slabs are"),
        "speed_and_throughput": lambda: _speed_and_throughput(m, 1),
        "speed_and_throughput_repeats": lambda: _speed_and_throughput(m, 3),
        "learning_curves": lambda: curves("2000 minima, packed batches"),
        "errors_overview": lambda: m.plots.errors_overview(errors, by_size, 0.036, reference_label="AMOEBA2018"),
    }


def _picked(m):
    _, (left, right) = plt.subplots(1, 2, figsize=(13, 3.8))
    m.fplots.picked_sizes(additions_table(), ax=left)
    m.fplots.picked_errors(additions_table(), ax=right)


def _chapter3(m):
    models = ["pretrained", "scratch", "finetuned"]
    summary = pd.DataFrame([{"model": mo, "set": s, "mae_per_water": RNG.uniform(0.01, 0.3),
                             "f_mag": RNG.uniform(0.5, 9), "f_ang": RNG.uniform(0.02, 0.4)}
                            for mo in models for s in ("test minima", "test non-minima")])
    epochs = pd.DataFrame([{"arm": arm, "epoch": e, "val_force_rmse": f / e}
                           for arm, f in (("with create_graph", 3.0), ("without create_graph (released code)", 9.0))
                           for e in range(1, 13)])
    rounds = pd.DataFrame([{"rule": rule, "seed": seed, "round": r, "val_force_rmse": 3.0 / (r + 1) + 0.1 * seed,
                            "val_mae_per_water": 0.1 / (r + 1) + 0.01 * seed}
                           for rule in ("active", "random") for seed in range(3) for r in range(5)])
    components = pd.DataFrame({"model": np.repeat(models, 600), "reference": RNG.normal(0, 10, 1800)})
    components["predicted"] = components["reference"] + RNG.normal(0, 2, 1800)
    return {
        "force_learning_curves": lambda: m.fplots.force_learning_curves(metrics_table(60, forces=True),
                                                                        [0, 10, 20, 30, 40, 50, 60]),
        "static_errors": lambda: m.fplots.static_errors(summary.set_index(["model", "set"])),
        "create_graph_curves": lambda: m.fplots.create_graph_curves(epochs),
        "selection_rounds": lambda: m.fplots.selection_rounds(rounds),
        "data_efficiency": lambda: m.fplots.data_efficiency(efficiency_table()),
        "picked_sizes_and_errors": lambda: _picked(m),
        "force_parity": lambda: m.fplots.force_parity(components),
    }


def _chapter4(m):
    predicted = pd.concat([pd.DataFrame({"set": s, "model": mo, "reference": RNG.normal(-9, 1, 60),
                                         "predicted": RNG.normal(-9, 1, 60)})
                           for s in ("AMOEBA2018", "GFN2-xTB")
                           for mo in ("pretrained", "scratch-transfer", "transfer")])
    strategies = pd.DataFrame([{"strategy": s, "n_train": n, "mae_per_water": RNG.uniform(0.02, 0.04),
                                "old_mae_per_water": RNG.uniform(0.1, 0.15)}
                               for s in ("full", "body_lr", "frozen") for n in (250, 4000)])
    strategies = strategies.set_index(["strategy", "n_train"])
    scratch = metrics_table(30)
    curves = {"pretrained": metrics_table(30),
              "scratch": scratch.assign(val_mae_per_water=3 * scratch.val_mae_per_water)}
    sample = efficiency_table(sizes=(50, 100, 250, 500, 1000, 2000, 4000))
    sample["mae_per_water"] = sample["force_mae"] / 10
    published = sample.replace({"start": {"pretrained": "published"}})
    return {
        "energy_distributions": lambda: m.tplots.energy_distributions(predicted),
        "transfer_curves": lambda: m.tplots.transfer_curves(curves),
        "sample_curve": lambda: m.tplots.sample_curve(sample, title="book pretrained -> GFN2-xTB"),
        "sample_curve_published": lambda: m.tplots.sample_curve(published, xlabel="training minima of AMOEBA2018",
                                                                title="published TTM2.1-F model -> AMOEBA2018"),
        "strategies": lambda: m.tplots.strategies(strategies, 0.0095),
    }


def _chapter5(m):
    samples = {mo: {"O-H": RNG.normal(0.97, 0.03, 500), "O...O": RNG.normal(4, 1.2, 500)}
               for mo in ("pretrained", "scratch-forces", "finetuned", "amoeba")}
    t = np.arange(0, 2001, 5.0)
    nve = {mo: pd.DataFrame({"time_fs": t, "total": RNG.normal(0, 0.05, len(t)).cumsum()})
           for mo in ("amoeba", "finetuned")}
    switches = {"finetuned": (RNG.random(len(t) - 1) < 0.02).astype(int)}
    published = pd.DataFrame({"seed": np.repeat([0, 1], 101), "time_fs": np.tile(np.arange(0, 101.0), 2)})
    published["max_oh"] = 1.0 + 0.05 * published["time_fs"]
    figures = {
        "energy_traces": lambda: m.mdplots.energy_traces(md_frames()),
        "energy_traces_reference": lambda: m.mdplots.energy_traces(md_frames(), "reference_energy", ylabel=REF),
        "energy_traces_long": lambda: m.mdplots.energy_traces(md_frames(("finetuned",), (20,)), "reference_energy",
                                                              ylabel=REF),
        "survival_curves": lambda: m.mdplots.survival_curves(survival_table()),
        "distance_distributions": lambda: m.mdplots.distance_distributions(samples),
        "nve_energy": lambda: m.mdplots.nve_energy(nve, switches),
    }
    if hasattr(m.mdplots, "published_trajectories"):
        figures["published_trajectories"] = lambda: m.mdplots.published_trajectories(graphcore_trajectories(),
                                                                                      published)
    return figures


def figures(m=None) -> dict:
    """``{name: draw}``: every figure the chapters draw, from synthetic tables (``m``: the plot modules)."""
    m = m or SimpleNamespace(plots=plots, fplots=force_plots, tplots=transfer_plots, mdplots=md_plots)
    found = {"paper_story": lambda: m.plots.paper_story()}
    for chapter in (_quickstart, _chapter1, _chapter2, _chapter3, _chapter4, _chapter5):
        found.update(chapter(m))
    return found


FIGURES = figures()


@pytest.fixture(autouse=True)
def _style():
    plots.set_style()
    yield
    plt.close("all")


# --- the checker ------------------------------------------------------------------------------------


def test_overprinted_labels_are_found():
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.text(0.5, 0.5, "first label", ha="center")
    ax.text(0.52, 0.5, "second label", ha="center")
    ax.set_xticks([1.0, 1.01], ["3x10^2", "4x10^2"])
    found = figure_check.overlapping_text(fig)
    assert any("first label" in a and "second label" in b for a, b in found)
    assert any("3x10^2" in a and "4x10^2" in b for a, b in found)
    assert not any("first" in a + b and "10^2" in a + b for a, b in found)  # far apart: not a pair
    with pytest.raises(figure_check.FigureOverlapError, match="first label"):
        figure_check.check_figure(fig)


def test_panels_running_into_each_other_are_found():
    fig, (left, right) = plt.subplots(1, 2, figsize=(4, 2), layout="none")
    fig.subplots_adjust(wspace=0.0)
    left.set_ylabel("a long label of the left panel")
    right.set_ylabel("a long label of the right panel")
    left.set_xlabel("x")
    found = figure_check.overlapping_text(fig)
    assert any("right panel" in a + b for a, b in found)


def test_a_legend_over_a_text_is_found():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1], [0, 1], label="a line with a long name")
    ax.legend(loc="upper left")
    ax.text(0.05, 0.95, "a note under the legend", transform=ax.transAxes, va="top")
    assert any("legend" in a + b and "note" in a + b for a, b in figure_check.overlapping_text(fig))


def test_a_clean_figure_passes():
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3))
    for ax in (left, right):
        ax.plot([1, 10, 100], [1, 2, 3], label="line")
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation MAE per water (kcal/mol)")
        ax.set_title("a title")
        ax.legend()
    ax.text(50, 1.5, "")  # empty and invisible texts do not count
    ax.text(1, 1, "hidden", visible=False)
    ax.text(1, 1, "hidden too", visible=False)
    figure_check.check_figure(fig)


def test_slanted_tick_labels_side_by_side_pass():
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.set_xticks(range(6), [f"model number {i}" for i in range(6)], rotation=60, ha="right")
    assert figure_check.overlapping_text(fig) == []


def test_the_check_fails_an_ipython_cell(monkeypatch):
    pytest.importorskip("IPython")
    from IPython.testing.globalipapp import start_ipython

    shell = start_ipython()
    monkeypatch.setenv(figure_check.CHECK_ENV, "1")
    plots.set_style()
    try:
        result = shell.run_cell("import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\n"
                                "ax.text(0.5, 0.5, 'one', ha='center'); ax.text(0.5, 0.5, 'one more', ha='center')")
        assert isinstance(result.error_in_exec, figure_check.FigureOverlapError)
        assert "one more" in str(result.error_in_exec)
        plt.close("all")
        assert shell.run_cell("fig, ax = plt.subplots(); ax.set_title('fine')").success
    finally:
        shell.events.callbacks["post_execute"].remove(figure_check._after_execute)
        shell.events.unregister("post_run_cell", figure_check._after_run_cell)


# --- every figure of the book -----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_no_text_overlaps(name):
    FIGURES[name]()
    for number in plt.get_fignums():
        fig = plt.figure(number)
        figure_check.check_figure(fig)
        for ax in fig.axes:  # log axes read as plain numbers: no 6x10^0
            labels = [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
            assert not [t for t in labels if "times10" in t or "10^{" in t], (name, labels)


def test_paper_story_labels_sit_inside_separate_boxes():
    ax = plots.paper_story()
    ax.figure.canvas.draw()
    renderer = ax.figure.canvas.get_renderer()
    boxes = [(t.get_window_extent(renderer), t.get_bbox_patch().get_window_extent(renderer)) for t in ax.texts]
    assert len(boxes) == 5
    for text, box in boxes:
        assert box.x0 < text.x0 and text.x1 < box.x1 and box.y0 < text.y0 and text.y1 < box.y1
        assert ax.get_window_extent(renderer).contains(box.x0, box.y0)
    for i, (_, a) in enumerate(boxes):
        assert not any(a.overlaps(b) for _, b in boxes[i + 1:])


def test_the_quickstart_and_chapter_5_draw_the_same_trajectories_in_the_same_colours():
    from matplotlib.colors import to_hex

    quick = plots.longest_bond(graphcore_trajectories())
    published = pd.DataFrame({"seed": 0, "time_fs": [0.0, 1.0], "max_oh": [1.0, 1.1]})
    chapter5 = md_plots.published_trajectories(graphcore_trajectories(), published)
    first = {line.get_label(): to_hex(line.get_color()) for line in quick.get_lines() if line.get_label() in
             set(graphcore_trajectories()["model"])}
    second = {line.get_label().removeprefix("Graphcore: "): to_hex(line.get_color()) for line in chapter5.get_lines()}
    assert len(first) == 4 and all(second[label] == colour for label, colour in first.items())
    assert first["TTM2.1-F (reference)"] == plots.MODEL_COLORS["reference"]
    assert first["pretrained only (published)"] == plots.MODEL_COLORS["published"]
    assert len(set(first.values())) == 4


def test_each_model_has_its_own_colour():
    models = ("reference", "published", "pretrained", "finetuned", "scratch", "transfer", "published-transfer")
    assert len({plots.model_colour(m) for m in models}) == len(models)
    assert plots.model_colour("scratch-forces") == plots.model_colour("scratch on non-minima") == plots.model_colour(
        "scratch 250 seed 0")
    assert plots.model_colour("amoeba") == plots.model_colour("TTM2.1-F (reference)") == plots.MODEL_COLORS["reference"]


@pytest.mark.parametrize("low, high, expected", [(250, 2000, ["500", "1,000"]), (0.9, 7.5, ["1", "2", "5"]),
                                                   (0.021, 0.038, ["0.025", "0.03", "0.035"])])
def test_log_axes_read_as_plain_numbers(low, high, expected):
    _, ax = plt.subplots()
    ax.plot([low, high], [low, high])
    plots.log_axis(ax, "y")
    ax.set_ylim(low, high)
    ax.figure.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels() if low <= t.get_position()[1] <= high]
    assert set(expected) <= set(labels), labels
