"""Cards: what a data set or a model is and how it was made, as a JSON sidecar rendered to Markdown.

A card is written once, by the command that made the thing it describes (``hydronet-nb generate``
writes ``DATASET.json``, ``hydronet-nb pretrain --export`` writes ``MODEL.json``), as plain data.
The Markdown beside it (``DATASET.md``, ``MODEL.md``) is rendered from that data for people and
never read back: code that needs a fact reads the JSON (:func:`read_card`, :func:`dataset_facts`,
:func:`stage_table`).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..utils.files import atomic_write_json, atomic_write_text

#: file stems of the kinds of card (``<stem>.json`` and ``<stem>.md``)
DATASET_CARD, MODEL_CARD, STUDY_CARD = "DATASET", "MODEL", "STUDY"
#: version of the JSON layout
CARD_FORMAT = 1
#: the columns of a data-set card's per-size tables
STAGE_COLUMNS = ("waters", "wanted", "attempts", "rejected", "duplicates", "unique", "kept", "CPU s")


def card_paths(folder: str | Path, stem: str) -> tuple[Path, Path]:
    """``(<folder>/<stem>.json, <folder>/<stem>.md)``."""
    folder = Path(folder)
    return folder / f"{stem}.json", folder / f"{stem}.md"


def has_card(folder: str | Path, stem: str = DATASET_CARD) -> bool:
    return card_paths(folder, stem)[0].is_file()


def write_card(folder: str | Path, stem: str, facts: dict) -> Path:
    """Write ``facts`` as ``<stem>.json`` and its rendering as ``<stem>.md`` (both atomically); returns the Markdown path."""
    render = {DATASET_CARD: render_dataset_card, MODEL_CARD: render_model_card, STUDY_CARD: render_study_card}[stem]
    facts = {"card": stem.lower(), "format": CARD_FORMAT, **facts}
    data, text = card_paths(folder, stem)
    atomic_write_json(data, facts, indent=1)
    atomic_write_text(text, render(facts))
    return text


def export_study(dest: str | Path, copies: dict, facts: dict) -> Path:
    """What every ``hydronet-nb *-study --export DIR`` does: copy each ``name -> source file`` of ``copies`` into
    ``dest`` (``name`` may hold a sub-folder) and write the study card with ``facts`` plus this machine and the
    list of files; returns the card's Markdown path."""
    import shutil

    from ..device import describe_hardware

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for name, source in copies.items():
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest / name)
    return write_card(dest, STUDY_CARD, {**facts, "hardware": describe_hardware(), "files": sorted(copies)})


def read_card(folder: str | Path, stem: str = DATASET_CARD) -> dict:
    """The facts of a card (its JSON sidecar); FileNotFoundError when the folder has none."""
    path = card_paths(folder, stem)[0]
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no {stem.lower()} card (made by the command that made the folder)")
    return json.loads(path.read_text())


# --- data-set cards -------------------------------------------------------------------------------


def _settings_value(value):
    return tuple(value) if isinstance(value, list) else value


def _stage_row(row: dict) -> str:
    n = row["waters"]
    if "attempts" not in row:
        return f"| {n} | - | - | - | - | - | {row['kept']} | - |"
    rejected = ", ".join(f"{k} {v}" for k, v in row["rejected"].items() if v) or "0"
    return (f"| {n or 'all'} | {row['wanted'] or '-'} | {row['attempts']} | {rejected} | {row['duplicates']} | "
            f"{row['unique'] or '-'} | {row['kept'] if n else '-'} | {row['cpu_seconds']:.1f} |")


def render_dataset_card(facts: dict) -> str:
    """``DATASET.md`` from the facts ``hydronet-nb generate`` records."""
    s, checks = facts["settings"], facts["checks"]
    lines = [
        "# Generated water-cluster data (HydroNet book)", "",
        "Made by `hydronet-nb generate` from open potentials standing in for the paper's: AMOEBA2018 (OpenMM) for "
        "TTM2.1-F, GFN2-xTB (tblite) for MB-pol. Energies in kcal/mol relative to N relaxed isolated monomers of the "
        "same potential; `f` holds the energy gradient dE/dx in kcal/mol/Angstrom (PNNL layout). Users who built "
        "PNNL's TTM library can evaluate TTM2.1-F itself with `hydronet_nb.reference.potentials.TTM21F`.", "",
        "## Command", "", "```", facts["command"], "```", "",
        f"Wall time of this invocation: {facts['wall_seconds']:.1f} s ({facts['reused_chunks']} chunks reused from the "
        f"work folder). CPU time summed over all chunks: {facts['cpu_seconds']:.1f} s.", "",
        "## Potentials", "", *[f"- {line}" for line in potential_lines(facts)], "",
        "## Libraries", "", *[f"- {k} {v}" for k, v in facts["libraries"].items()], "",
        "## Settings", "", *[f"- {k}: {_settings_value(v)}" for k, v in s.items()], "",
        "## Contents", "",
        "Rejected structures are broken (`fragmented`: molecules not connected by O-O distances up to "
        f"{checks['broken_oo']} Angstrom; `dissociated`: an O-H bond over {checks['broken_oh']} Angstrom) or failed "
        f"(OpenMM or tblite error); duplicates are minima within {checks['duplicate_energy']} kcal/mol and "
        f"{checks['duplicate_distance']} Angstrom (sorted interatomic distances) of an earlier one. `wanted` is a size's "
        "share of the minima after the shortfall of sizes with too few distinct minima was moved to the others. For "
        "`nonmin`, attempts and rejections are counted by the size of the trajectory's start; for `gfn2xtb` over all "
        "sizes.", "",
    ]
    for name, stage in facts["stages"].items():
        lines += [f"### {name}: {stage['clusters']} clusters", "",
                  "| " + " | ".join(STAGE_COLUMNS) + " |", "|" + "---|" * len(STAGE_COLUMNS)]
        lines += [_stage_row(row) for row in stage["rows"]]
        errors = [f"- W{e['waters']}: {e['message']}" if e["waters"] else f"- {e['message']}" for e in stage["errors"]]
        lines += ["", "Errors behind `failed` (first of each size):", *errors] if errors else []
        lines.append("")
    lines += ["## Files", "", "| file | bytes | sha256 |", "|---|---|---|"]
    lines += [f"| {f['name']} | {f['bytes']} | `{f['sha256']}` |" for f in facts["files"]]
    return "\n".join(lines) + "\n"


def potential_lines(facts: dict) -> list[str]:
    """The potentials, minimizer and MD of a data-set card, one line each."""
    from ..book.formatting import as_text  # -0.000000 reads 0.000000

    s = facts["settings"]
    return [
        *[f"{p['label']}: {json.dumps(p['settings'])}; relaxed monomer {as_text(p['monomer_energy'], '.6f')} kcal/mol"
          for p in facts["potentials"]],
        f"Minimization: OpenMM LocalEnergyMinimizer (L-BFGS) to an RMS force of {s['minimize_tolerance']} kcal/mol/Angstrom",
        f"MD: OpenMM LangevinMiddleIntegrator, {s['md_timestep_fs']} fs steps, friction {s['md_friction_per_ps']}/ps, "
        f"temperatures {list(s['temperatures'])} K, {s['md_equilibration_steps']} steps of equilibration, then "
        f"{s['md_frames']} frames {s['md_interval_steps']} steps apart per trajectory",
    ]


def dataset_facts(card: dict) -> dict:
    """The key facts of a data-set card: command, wall and CPU seconds, the potentials' lines, MD temperatures (K)."""
    return {"command": card["command"], "wall_seconds": card["wall_seconds"], "cpu_seconds": card["cpu_seconds"],
            "potentials": potential_lines(card), "temperatures": list(card["settings"]["temperatures"])}


def stage_table(card: dict, name: str) -> pd.DataFrame:
    """The per-size table of data set ``name`` in a data-set card, as numbers (``rejected``: their total; NaN: none)."""
    if name not in card["stages"]:
        raise KeyError(f"the card has no table for data set {name!r}")
    rows = [{"waters": r["waters"], "wanted": r.get("wanted", np.nan) or np.nan, "attempts": r.get("attempts", np.nan),
             "rejected": sum(r["rejected"].values()) if "rejected" in r else np.nan,
             "duplicates": r.get("duplicates", np.nan), "unique": r.get("unique", np.nan) or np.nan,
             "kept": r["kept"], "CPU s": r.get("cpu_seconds", np.nan)} for r in card["stages"][name]["rows"]]
    return pd.DataFrame(rows, columns=list(STAGE_COLUMNS))


# --- model cards ----------------------------------------------------------------------------------


def verdict(facts: dict) -> str:
    """Whether a model card's test error meets its target, in words."""
    target = facts["target_mae_per_water"]
    test = next((m["mae_per_water"] for m in facts["metrics"] if m["set"] == facts["test_set"]), float("nan"))
    if target is None:
        return f"no target set ({test:.4f} on {facts['test_set']})"
    if test <= target:
        return f"met ({test:.4f} <= {target})"
    return f"not met: {test:.4f} is {test / target:.1f}x the target {target}"


def render_model_card(facts: dict) -> str:
    """``MODEL.md`` from the facts ``hydronet-nb pretrain --export`` records."""
    target = facts["target_mae_per_water"]
    lines = [
        f"# {facts['title']}", "", facts["description"],
        "", "## Command", "", "```", facts["command"], "```", "",
        "Rerunning it continues the run from its last checkpoint (the run folder is `output` in the config).", "",
        "## Config", "", "```json", json.dumps(facts["config"], indent=1), "```", "",
        "## Data", "", "| file | sha256 |", "|---|---|", *[f"| {f['name']} | `{f['sha256']}` |" for f in facts["data_files"]], "",
        "## Training", "",
        f"- epochs run: {facts['epochs_run']}; best epoch (lowest validation loss): {facts['best_epoch']}",
        f"- training time: {facts['train_seconds'] / 60:.1f} min (sum of the epochs' training passes; "
        f"{facts['median_clusters_per_s']:.0f} clusters/s median)",
        f"- final learning rate: {facts['final_lr']:.3g}",
        f"- hardware: {facts['hardware']}",
        f"- parameters: {facts['n_parameters']:,}; weights file {facts['weights_bytes']:,} bytes"
        + (f", sha256 `{facts['weights_sha256']}`" if facts.get("weights_sha256") else ""), "",
        "## Metrics", "",
        (f"Target: test MAE per water at most {target} kcal/mol on the W3-W25 test split: **{verdict(facts)}**."
         if target is not None else f"Test set: {facts['test_set']}."), "",
        *_metric_rows(facts["metrics"]),
        "", "Per size (MAE per water, kcal/mol):", "", "| waters | set | clusters | MAE per water |", "|---|---|---|---|",
        *[f"| {r['n_water']} | {r['set']} | {r['clusters']} | {r['mae_per_water']:.4f} |" for r in facts["by_size"]],
        "", f"The learning curve is `{facts['files']['metrics']}` (one row per epoch); `{facts['files']['errors']}` holds "
        "every test prediction.", "",
        *_settled_lines(facts), *_previous_lines(facts),
    ]
    return "\n".join(lines)


def _metric_rows(metrics: list[dict]) -> list[str]:
    """The metrics table; with force columns when the sets have forces (kcal/mol, kcal/mol/A, F_ang in [0, 1])."""
    forces = any("force_mae" in m for m in metrics)
    head = "| set | clusters | MAE per water | RMSE per water |" + (" force MAE | F_mag | F_ang |" if forces else "")
    rows = [head, "|---" * (4 + 3 * forces) + "|"]
    for m in metrics:
        row = f"| {m['set']} | {m['clusters']} | {m['mae_per_water']:.4f} | {m['rmse_per_water']:.4f} |"
        if forces:
            row += "".join(f" {m[k]:.4f} |" if k in m else " - |" for k in ("force_mae", "f_mag", "f_ang"))
        rows.append(row)
    return rows


def _threads(run: dict) -> str:
    threads = "not recorded" if run["threads"] is None else f"{run['threads']} torch thread(s)"
    return f"epochs {run['first']}-{run['last']}: {threads}" + (f" on {run['device']}" if run.get("device") else "")


def _settled_lines(facts: dict) -> list[str]:
    s = facts.get("settledness")
    if not s:
        return []
    lines = ["## How the run ended", "",
             f"- validation MAE per water over the last {s['epochs']} epochs: mean {s['mean']:.4f}, range {s['range']:.4f} "
             f"({s['range_over_mean']:.0%} of the mean; settled means below 20%: **{'yes' if s['settled'] else 'no'}**)"]
    lines += [f"- {_threads(run)}" for run in facts.get("threads_per_epoch", [])]
    return lines + [""]


def _previous_lines(facts: dict) -> list[str]:
    old = facts.get("previous")
    if not old:
        return []
    new = {m["set"]: m for m in facts["metrics"]}
    lines = ["## Against the checkpoint it replaced", "",
             f"The previous checkpoint: {old['epochs_run']} epochs (best {old['best_epoch']}), "
             f"{(old.get('train_seconds') or 0) / 60:.0f} min of training passes, "
             f"{old.get('median_clusters_per_s') or 0:.0f} clusters/s median, on {old.get('hardware')}.", "",
             "| set | MAE per water before | after | RMSE per water before | after |", "|---|---|---|---|---|"]
    for m in old.get("metrics", []):
        n = new.get(m["set"])
        if n:
            lines.append(f"| {m['set']} | {m['mae_per_water']:.4f} | {n['mae_per_water']:.4f} | "
                         f"{m['rmse_per_water']:.4f} | {n['rmse_per_water']:.4f} |")
    return lines + [""]


# --- study cards ----------------------------------------------------------------------------------


def render_study_card(facts: dict) -> str:
    """``STUDY.md`` from the facts a study command records (its tables are the CSV files beside it)."""
    return "\n".join([
        f"# {facts['title']}", "", "## Command", "", "```", facts["command"], "```", "",
        "Rerunning it continues the study: finished arms are kept, a stopped one resumes.", "",
        "## Config", "", "```json", json.dumps(facts["config"], indent=1), "```", "",
        "## Cost", "",
        f"- arms: {facts['arms']}; {facts['train_seconds'] / 60:.1f} min of their own compute in all (training "
        "passes, or MD steps)",
        f"- wall time of the invocation that finished it: {facts['wall_seconds'] / 60:.1f} min",
        f"- hardware: {facts['hardware']}", "",
        "## Tables", "", *[f"- `{name}`" for name in facts["files"]], "",
    ])
