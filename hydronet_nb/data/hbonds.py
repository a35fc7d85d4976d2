"""Hydrogen bonds and the hydrogen-bond network of a water cluster (networkx).

Geometric criterion (Luzar and Chandler's, the common one for water): a donor O-H...O acceptor bond
exists when R(O...O) < 3.5 Angstrom and the angle between O-H and O...O is below 30 degrees.
Molecules are the file's ``O H H`` triples (``Cluster`` keeps them in that order).
"""
from __future__ import annotations

import networkx as nx
import numpy as np

from .clusters import Cluster
from .water import oh_bond_lengths, oxygen_distances

R_OO_MAX = 3.5  # Angstrom
ANGLE_MAX = 30.0  # degrees, between O-H and O...O


def hbond_graph(cluster: Cluster, r_oo_max: float = R_OO_MAX, angle_max: float = ANGLE_MAX) -> nx.DiGraph:
    """Directed graph: a node per molecule, an edge donor -> acceptor per hydrogen bond."""
    mol = cluster.pos.reshape(-1, 3, 3).astype(np.float64)
    o = mol[:, 0]
    graph = nx.DiGraph()
    graph.add_nodes_from(range(len(o)))
    cos_max = np.cos(np.radians(angle_max))
    for d in range(len(o)):
        oo = o - o[d]  # [N, 3] donor O -> every O
        r = np.linalg.norm(oo, axis=1)
        for h in (1, 2):
            oh = mol[d, h] - o[d]
            cos = (oo @ oh) / (np.maximum(r, 1e-12) * np.linalg.norm(oh))
            ok = (r > 0) & (r < r_oo_max) & (cos > cos_max)
            for a in np.flatnonzero(ok):
                graph.add_edge(d, int(a), hydrogen=h)
    return graph


def network_descriptors(cluster: Cluster) -> dict:
    """Counts that characterise the hydrogen-bond network of one cluster."""
    g = hbond_graph(cluster)
    u = g.to_undirected()
    donors = np.array([g.out_degree(n) for n in g])
    acceptors = np.array([g.in_degree(n) for n in g])
    n = g.number_of_nodes()
    return {
        "n_water": n,
        "hbonds": g.number_of_edges(),
        "hbonds_per_water": g.number_of_edges() / n,
        "free_oh": int(2 * n - donors.sum()),  # O-H groups donating to nobody
        "double_donors": int((donors == 2).sum()),
        "double_acceptors": int((acceptors >= 2).sum()),
        "rings": len(nx.cycle_basis(u)),
        "connected": nx.is_connected(u) if n else False,
        "mean_shortest_path": nx.average_shortest_path_length(u) if n > 1 and nx.is_connected(u) else float("nan"),
    }


def pair_distances(cluster: Cluster) -> dict[str, np.ndarray]:
    """Intermolecular O...O distances and the intramolecular O-H bond lengths (Angstrom)."""
    return {"OO": oxygen_distances(cluster), "OH": oh_bond_lengths(cluster)}


def hbond_lengths(cluster: Cluster, graph: nx.DiGraph | None = None) -> np.ndarray:
    """The H...O distance (Angstrom) of every hydrogen bond of ``cluster``: donor H to acceptor O."""
    graph = hbond_graph(cluster) if graph is None else graph
    pos = cluster.pos.reshape(-1, 3, 3).astype(np.float64)
    return np.array([np.linalg.norm(pos[d, h] - pos[a, 0]) for d, a, h in graph.edges(data="hydrogen")])


# --- many clusters at once (tables for plots) -----------------------------------------------------

#: the keys of :func:`network_descriptors`, the columns of :func:`descriptor_table`
DESCRIPTOR_COLUMNS = ("n_water", "hbonds", "hbonds_per_water", "free_oh", "double_donors", "double_acceptors",
                      "rings", "connected", "mean_shortest_path")


def descriptor_table(clusters, progress: bool = True, desc: str = "hydrogen bonds") -> "pd.DataFrame":
    """:func:`network_descriptors` of every cluster in ``clusters``, one row each, with a tqdm progress bar."""
    import pandas as pd
    from tqdm.auto import tqdm

    rows = [network_descriptors(c) for c in tqdm(clusters, desc=desc, disable=not progress, leave=False)]
    return pd.DataFrame(rows, columns=None if rows else DESCRIPTOR_COLUMNS)


def descriptors_by_size(table: "pd.DataFrame", by=("n_water",)) -> "pd.DataFrame":
    """Mean of each numeric descriptor of a :func:`descriptor_table` per cluster size (and other ``by`` columns), with counts."""
    by = list(by)
    numeric = [c for c in table.select_dtypes("number").columns if c not in by]
    grouped = table.groupby(by)
    return grouped[numeric].mean().assign(clusters=grouped.size()).reset_index()


def distance_table(clusters, progress: bool = False) -> "pd.DataFrame":
    """Long table of :func:`pair_distances` of every cluster: ``n_water``, ``pair`` ('O...O' or 'O-H'), ``distance`` (Angstrom).

    One row per distance (float32, ``pair`` categorical), so a few million rows stay small.
    """
    import pandas as pd
    from tqdm.auto import tqdm

    sizes, kinds, values = [], [], []
    for c in tqdm(clusters, desc="distances", disable=not progress, leave=False):
        d = pair_distances(c)
        for kind, key in (("O...O", "OO"), ("O-H", "OH")):
            sizes.append(np.full(len(d[key]), c.n_water, dtype=np.int16))
            kinds.append(np.full(len(d[key]), kind == "O-H", dtype=bool))
            values.append(d[key].astype(np.float32))
    if not values:
        return pd.DataFrame({"n_water": np.zeros(0, np.int16), "pair": pd.Categorical([], ["O...O", "O-H"]),
                             "distance": np.zeros(0, np.float32)})
    is_oh = np.concatenate(kinds)
    return pd.DataFrame({
        "n_water": np.concatenate(sizes),
        "pair": pd.Categorical.from_codes(is_oh.astype(np.int8), ["O...O", "O-H"]),
        "distance": np.concatenate(values),
    })
