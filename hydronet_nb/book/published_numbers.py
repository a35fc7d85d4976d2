"""Numbers the paper and Graphcore published (not measured here), in one place.

Sources: Bilbrey et al. 2022 (arXiv 2211.04598, "the paper"), Graphcore's hydronet-gnn repository
(its ``experiments/`` notebooks and MD trajectories) and PNNL's HydroNet release, as summarised in
the project's guide (``shared/guide/paper-facts.md``). Chapters quote them through ``myst_nb.glue``
(:func:`hydronet_nb.book.notebook.record`) and plot them next to what the reader's machine
measures, always labelled as published.
"""

#: HydroNet pretraining set (TTM2.1-F minima W3-W25; the paper)
PRETRAIN_CLUSTERS = 2_726_710
PRETRAIN_TEST_MAE_PER_WATER = 0.0018  # kcal/mol, the paper
#: IPU pretraining wall time, hours, by number of IPUs (the paper)
IPU_PRETRAIN_HOURS = {16: 4.2, 32: 2.2, 64: 1.2}
#: the GPU baseline the paper beat: 0.5M clusters, 4 V100s (the paper)
GPU_BASELINE = {"clusters": 500_000, "gpus": "4 x V100", "days": 2.7, "minutes_per_epoch": 4.5}
#: Graphcore's epoch time (s) on Bow IPUs, by data-set size and number of IPUs (Graphcore's hydronet-gnn README)
IPU_EPOCH_SECONDS = {
    2_726_710: {8: 35.1, 16: 21.4, 32: 14.8, 64: 11.7},
    4_464_740: {8: 63.1, 16: 38.4, 32: 26.1, 64: 21.9},
}
#: force finetuning with active sampling, one V100
FORCE_FINETUNE = {"train_nonminima": 5_000, "examine_pool": 1_000, "rounds": 50, "epochs": 590, "hours": 8.3}
#: the paper's Table 1 on the non-minima test set: E/water MAE (kcal/mol), mean |F_mag| (kcal/mol/A), mean F_ang,
#: and the training set each model ended with (active sampling grows it)
FORCE_TABLE1 = {
    "scratch": {"mae_per_water": 0.3548, "f_mag": 18.76, "f_ang": 0.238, "train_clusters": 11_800},
    "finetuned": {"mae_per_water": 0.1316, "f_mag": 8.94, "f_ang": 0.098, "train_clusters": 11_600},
}
#: PES transfer to MB-pol, energy only, one V100; MAE and RMSE of E per water (kcal/mol), paper's Table 2
PES_TRANSFER = {
    "train_minima": 4_000,
    "minutes": 28,
    "scratch": {"mae": 0.0719, "rmse": 0.0924},
    "pretrained_finetuned": {"mae": 0.0122, "rmse": 0.0158},
}

# --- the HydroNet data set itself (Choudhury et al. 2020; Bilbrey et al. 2022) ---------------------
#: minima W3-W30 in the released raw files (the paper's text says 4.95 million)
HYDRONET_CLUSTERS = 4_464_740
HYDRONET_CLUSTERS_PAPER_TEXT = 4_950_000
#: cluster sizes (waters) of all of HydroNet and of its pretraining set; the pretraining split
HYDRONET_SIZES = (3, 30)
PRETRAIN_SIZES = (3, 25)
PRETRAIN_SPLIT = (0.8, 0.1, 0.1)
#: how the minima were made, and on which potential energy surface
HYDRONET_METHOD = "Monte Carlo basin-paving"
HYDRONET_POTENTIAL = "TTM2.1-F"
#: total energy of the (H2O)10 global minimum, kcal/mol relative to 10 isolated relaxed monomers
W10_GLOBAL_MINIMUM = -94.67
#: the rough shape of HydroNet's size histogram (clusters per size): skewed to large clusters
HYDRONET_W20_CLUSTERS = 121_000
HYDRONET_W21_TO_W25_CLUSTERS_EACH = (300_000, 480_000)  # low, high
HYDRONET_W3_TO_W9_CLUSTERS_MAX = 5_000  # all of W3-W9 together: fewer than this
#: PNNL's finetuning sets: MB-pol re-evaluated minima (the PES-transfer set)
MBPOL_TRANSFER_MINIMA = 5_000

# --- derived from the numbers above -----------------------------------------------------------------
#: the paper's held-out test set: the last tenth of the 80/10/10 split of the pretraining set
PRETRAIN_TEST_CLUSTERS = round(PRETRAIN_CLUSTERS * PRETRAIN_SPLIT[2])

# --- Graphcore's IPU implementation (hydronet-gnn, experiments/hydronet_packing.ipynb) ----------------
#: packs of at most 192 atoms for the 2.7M pretraining set, and how full they are
GRAPHCORE_PACK_ATOMS = 192
GRAPHCORE_PACKS = 911_401
GRAPHCORE_PACK_EFFICIENCY = 0.981

# --- molecular dynamics ----------------------------------------------------------------------------
#: PNNL's non-minima: snapshots of MD at these temperatures (K; the paper)
PNNL_MD_TEMPERATURES = (260.0, 300.0)
#: the paper's (H2O)10 trajectories as Graphcore published them: ASE NVTBerendsen at 300 K, 0.1 fs steps,
#: 1000 steps (100 fs), a frame every 10 steps (hydronet-gnn experiments/W10_row42_*_1.xyz)
GRAPHCORE_MD = {"temperature_k": 300.0, "timestep_fs": 0.1, "steps": 1000, "frame_every": 10}
GRAPHCORE_MD_FRAME_FS = GRAPHCORE_MD["timestep_fs"] * GRAPHCORE_MD["frame_every"]
GRAPHCORE_MD_DURATION_FS = GRAPHCORE_MD["timestep_fs"] * GRAPHCORE_MD["steps"]
