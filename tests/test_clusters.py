"""The one container of clusters, the atomic write, and the cards rendered from their JSON sidecars."""
import numpy as np
import pytest

from hydronet_nb.data import cards
from hydronet_nb.data.clusters import Cluster, ClusterSet, fingerprint_changes
from hydronet_nb.utils.files import atomic_write, atomic_write_text
from hydronet_nb.utils.resources import EMBEDDED_DIR, PRETRAINED_DIR


@pytest.fixture
def cset(ttm_minima):
    return ClusterSet.from_clusters(ttm_minima, name="ttm")


def test_clusters_come_back_as_they_went_in(cset, ttm_minima):
    assert len(cset) == len(ttm_minima) and list(cset.n_water) == [c.n_water for c in ttm_minima]
    for a, b in zip(ttm_minima, cset):
        assert np.array_equal(a.pos, b.pos) and np.array_equal(a.z, b.z) and a.energy == b.energy and a.source == b.source
    assert cset.offsets[-1] == len(cset.z) == sum(c.n_atoms for c in ttm_minima) and cset.forces is None
    assert cset.counts_per_size() == {n: 1 for n in range(3, 16)}


def test_subsets_by_slice_mask_and_rows_and_concatenation(cset):
    assert [c.n_water for c in cset[2:5]] == [5, 6, 7]
    assert list(cset[cset.n_water > 12].n_water) == [13, 14, 15]
    picked = cset[[7, 0]]
    assert list(picked.n_water) == [10, 3] and picked[0].source == cset[7].source
    both = ClusterSet.concat([cset[:2], picked])
    assert list(both.n_water) == [3, 4, 10, 3] and both[2].energy == cset[7].energy
    z, pos, batch = picked.collate()
    assert len(z) == 30 + 9 and batch.tolist() == [0] * 30 + [1] * 9


def test_padded_arrays_and_labels_of_file_rows():
    z = np.array([[8, 1, 1, 0, 0, 0], [8, 1, 1, 8, 1, 1]])
    pos = np.arange(36, dtype=np.float32).reshape(2, 6, 3)
    cset = ClusterSet.from_padded(z, pos, [1, 2], [-1.0, -5.0], source="x.hdf5", item="row", info={"file": "x.hdf5"})
    assert cset.offsets.tolist() == [0, 3, 9] and np.array_equal(cset[1].pos, pos[1])
    assert cset[1].source == "x.hdf5 row 1" and cset[1].info == {"file": "x.hdf5", "row": 1}
    assert cset[[1]][0].source == "x.hdf5 row 1"  # a subset keeps the names of the rows


def test_requirements_and_fingerprints(cset, ttm_minima):
    with pytest.raises(ValueError, match="training set: .* has no reference forces"):
        cset.require(forces=True, what="training set")
    unknown = ClusterSet.from_clusters([Cluster(z=ttm_minima[0].z, pos=ttm_minima[0].pos, source="no energy")])
    with pytest.raises(ValueError, match="no energy has no reference energy"):
        unknown.require()
    assert cset.fingerprint() == ClusterSet.from_clusters(list(cset)).fingerprint()
    assert fingerprint_changes(cset.fingerprint(), cset[1:].fingerprint()) == ["the clusters changed (13 -> 12 clusters)"]
    with pytest.raises(ValueError, match="has no forces but others do"):
        ClusterSet.from_clusters([Cluster(z=ttm_minima[0].z, pos=ttm_minima[0].pos, forces=ttm_minima[0].pos), ttm_minima[1]])


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    path = atomic_write_text(tmp_path / "a.txt", "old")

    def fail(tmp):
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(path, fail)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_shipped_cards_are_renderings_of_their_json():
    assert (EMBEDDED_DIR / "DATASET.md").read_text() == cards.render_dataset_card(cards.read_card(EMBEDDED_DIR))
    model = cards.read_card(PRETRAINED_DIR, cards.MODEL_CARD)
    assert (PRETRAINED_DIR / "MODEL.md").read_text() == cards.render_model_card(model)
    assert cards.verdict(model).startswith("met") and model["best_epoch"] <= model["epochs_run"]


def test_load_model_is_on_the_package():
    import hydronet_nb
    from hydronet_nb.model.loading import load_model

    assert hydronet_nb.load_model is load_model
