"""Numbers the paper and Graphcore published (not measured here), in one place.

Sources: Bilbrey et al. 2022 (arXiv 2211.04598) and Graphcore's hydronet-gnn repository, as
summarised in the project's guide. Chapters plot them next to what the reader's machine measures,
always labelled as published.
"""

#: HydroNet pretraining set (TTM2.1-F minima W3-W25)
PRETRAIN_CLUSTERS = 2_726_710
PRETRAIN_TEST_MAE_PER_WATER = 0.0018  # kcal/mol
#: IPU pretraining wall time, hours, by number of IPUs
IPU_PRETRAIN_HOURS = {16: 4.2, 32: 2.2, 64: 1.2}
#: the GPU baseline the paper beat: 0.5M clusters, 4 V100s
GPU_BASELINE = {"clusters": 500_000, "gpus": "4 x V100", "days": 2.7, "minutes_per_epoch": 4.5}
#: Graphcore's epoch time (s) on Bow IPUs, by data-set size and number of IPUs
IPU_EPOCH_SECONDS = {
    2_726_710: {8: 35.1, 16: 21.4, 32: 14.8, 64: 11.7},
    4_464_740: {8: 63.1, 16: 38.4, 32: 26.1, 64: 21.9},
}
#: force finetuning with active sampling, one V100
FORCE_FINETUNE = {"train_nonminima": 5_000, "examine_pool": 1_000, "rounds": 50, "epochs": 590, "hours": 8.3}
#: PES transfer to MB-pol, energy only, one V100; MAE and RMSE of E per water (kcal/mol), paper's Table 2
PES_TRANSFER = {
    "train_minima": 4_000,
    "minutes": 28,
    "scratch": {"mae": 0.0719, "rmse": 0.0924},
    "pretrained_finetuned": {"mae": 0.0122, "rmse": 0.0158},
}
