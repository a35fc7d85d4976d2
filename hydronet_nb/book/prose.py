"""The chapters' sentences that depend on what is there or what came out: each one filled with numbers, or
its stand-in.

A chapter's ``data_dir`` may point at a folder without a card, without non-minima or without a
second potential energy surface (PNNL's release, the real HydroNet, a folder of minima). Prose that
quotes a number about such data cannot sit in the notebook's Markdown -- the number would not exist
on that path -- so it is kept here: :func:`sentence` fills the template with numbers computed by the
chapter, or returns what the chapter says instead, and the chapter records the result with
:func:`hydronet_nb.book.notebook.record_text` (quoted as ``{glue:md}``). Every key a chapter quotes
exists on every path, and every number in it comes from code. The same pair serves a claim that holds only
for some results (chapter 4's comparisons): the template says it, the stand-in says what holds otherwise.
"""
from __future__ import annotations

#: name -> (template with the numbers, what is said when the data are missing; may use numbers too)
TEXTS: dict[str, tuple[str, str]] = {
    # chapter 1 ---------------------------------------------------------------------------------
    "card": (
        "The walks made {card_attempts:,d} minimizations for the `min` set and {card_duplicates:,d} of them ended in "
        "a minimum that had been found before. Small clusters have few minima: of {card_first_attempts:d} "
        "minimizations of W{card_first_size:d}, only {card_first_new:d} ended in a minimum not found before, and the "
        "share the smallest sizes could not fill went to the larger ones. Making the set took {card_cpu_hours:.2f} "
        "CPU hours.",
        "This folder has no card (`DATASET.json`), so how its structures were found is not recorded here; what "
        "follows needs only the data files.",
    ),
    "nonmin": (
        "The MD snapshots lie {nonmin_shift:.2f} kcal/mol per water above the minima of the same size, on average "
        "over sizes. At {md_temperature:.0f} K, the mean temperature of the MD runs, equipartition gives "
        "{equipartition:.2f} kcal/mol per water averaged over the same sizes; the snapshots carry "
        "{nonmin_shift_ratio:.0%} of that (they are compared with the average minimum, not with the bottom of the "
        "well each trajectory explores). The non-minima sample the sides of the wells, exactly what minima alone "
        "cannot teach a model.",
        "This folder holds no MD snapshots (`nonmin`), so there is no thermal shift to measure here.",
    ),
    "pes": (
        "For the {n_pairs:,d} minima on both surfaces, {second_potential}'s energy per water differs from "
        "{first_potential}'s by {pes_offset:+.2f} kcal/mol on average with a spread of {pes_spread:.2f}; the two are "
        "correlated with *r* = {pes_r:.3f}. The surfaces share their broad shape but not their details, the situation "
        "in which a pretrained model should need only a few thousand samples of the new surface to move over "
        "(chapter 4).",
        "This folder holds no second potential energy surface (`gfn2xtb` or `mbpol`), so there is nothing to pair "
        "the minima with here.",
    ),
    "oh_nonmin": ("; thermal motion widens that spread to {oh_std_nonmin:.3f} Å", " (no MD snapshots here to compare with)"),
    "hb_nonmin": (
        "In the MD snapshots the clusters lose {hb_lost_nonmin:.2f} hydrogen bonds per water against minima of the "
        "same size, and the hydrogen-bond network of {connected_nonmin:.0%} of them stays in one piece (of the "
        "minima: {connected_min:.0%}; a network can break while the cluster does not, because the generator only "
        "requires O...O contacts under {broken_oo:.0f} Å).",
        "The hydrogen-bond network of {connected_min:.0%} of the minima is in one piece (a network can break while "
        "the cluster does not: the generator only requires O...O contacts under {broken_oo:.0f} Å).",
    ),
    "summary_nonmin": (
        "Thermal snapshots lie {nonmin_shift:.2f} kcal/mol per water above minima ({nonmin_shift_ratio:.0%} of the "
        "harmonic equipartition estimate), with wider O-H bonds and fewer hydrogen bonds.",
        "Without MD snapshots in this folder, the thermal shift is not measured.",
    ),
    "summary_pes": (
        "The second PES is shifted by {pes_offset:+.2f} kcal/mol per water but correlated (*r* = {pes_r:.2f}).",
        "There is no second PES in this folder.",
    ),
    # chapter 2 ---------------------------------------------------------------------------------
    "extrapolation": (
        "On the {shipped_extrapolation_clusters:,d} larger clusters {extrapolation_sizes}, sizes no training set "
        "contained, it is {shipped_extrapolation_mae:.4f}, {extrapolation_ratio:.2f} times the error on the training "
        "sizes. The energy is a sum of atomic terms that each see {k} neighbours, and the local environments of a "
        "larger minimum are much like those of a smaller one: what the model learned carries over to sizes it never saw.",
        "This folder holds no larger minima (`min_extrapolation`) to test sizes that no training set contained.",
    ),
    "summary_extrapolation": (" and larger, unseen sizes to {shipped_extrapolation_mae:.4f}",
                              " (this folder has no larger sizes to test)"),
    # chapter 4 (present: the claim holds for these numbers) -------------------------------------
    "pt_verdict": (
        "The published start wins although it began further from GFN2-xTB ({pt_before:.3f} against the book's "
        "{t2_pretrained_GFN2_xTB:.3f} kcal/mol per water): a sign that what a pretrained model brings to a new surface grows "
        "with how much it has seen, the paper's case for pretraining once on millions of cheap minima.",
        "The published start began {pt_before:.3f} kcal/mol per water off GFN2-xTB against the book's "
        "{t2_pretrained_GFN2_xTB:.3f}, so this row does not separate the size of a pretraining set from its surface.",
    ),
    "pub_early": (
        "{n_early:d} of the {n_scratch:d} scratch runs (at {early_sizes} samples) scored best on validation within "
        "their first {early_best:d} epochs of {early_budgets}: from random weights their validation error rose after "
        "the first epochs and fell too slowly to come back within the budget, so those errors, and the ratios there, "
        "say as much about the schedule as about the data.",
        "Every scratch run kept improving well into its epoch budget.",
    ),
    "pub_vs_own": (
        "With {pub_large:,d} AMOEBA2018 minima and {moved_epochs:d} epochs the moved published model is closer to "
        "AMOEBA2018 ({pub_pre_large:.4f} kcal/mol per water) than the book's own pretrained model, trained on all "
        "{pretrain_minima:,d} for {own_epochs:d} epochs ({own_mae:.4f}, the same test minima): a short finetuning of "
        "weights pretrained on millions of minima of another surface beats long training on this surface alone.",
        "The book's own pretrained model, trained on all {pretrain_minima:,d} AMOEBA2018 minima for {own_epochs:d} "
        "epochs, stays ahead of the moved published model ({own_mae:.4f} against {pub_pre_large:.4f} kcal/mol per "
        "water with {pub_large:,d}).",
    ),
}


def sentence(name: str, values: dict | None = None, present: bool = True) -> str:
    """The text ``name`` of :data:`TEXTS` filled with ``values``: the template when ``present``, else the stand-in."""
    template, absent = TEXTS[name]
    return (template if present else absent).format(**(values or {}))


#: how :func:`data_counts` names each data set ({n}: clusters, {potential}: its potential)
PHRASES = {"min": "{n:,} {potential} minima", "min_extrapolation": "{n:,} larger {potential} minima (for testing only)",
           "nonmin": "{n:,} {potential} MD snapshots with forces",
           "gfn2xtb": "{n:,} {potential} energies of minima (the second PES)",
           "mbpol": "{n:,} {potential} energies of minima (the second PES)"}


def data_counts(datasets: dict) -> str:
    """``"10,000 AMOEBA2018 minima, ... and 5,000 GFN2-xTB energies of minima (the second PES)"``: a folder's data sets.

    ``datasets`` maps names (``min``, ``nonmin``, ...) to ClusterSets.
    """
    parts = [PHRASES.get(name, "{n:,} clusters of " + name).format(n=len(d), potential=d.potential)
             for name, d in datasets.items()]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
