r"""SchNet with tabulated filters: PyG's model, the same weights, far less arithmetic per step.

PyG's :class:`~torch_geometric.nn.models.SchNet` spends about 90% of its arithmetic on the filter
network of each interaction :math:`t`,

.. math::

    W_t(r) = \bigl(\mathrm{Lin}_2(\mathrm{ssp}(\mathrm{Lin}_1(g(r))))\bigr)\, C(r), \qquad
    g_k(r) = e^{-\gamma (r - \mu_k)^2}, \qquad C(r) = \tfrac12\bigl(\cos(\pi r / r_c) + 1\bigr),

evaluated anew on every edge, although it is a function of the edge length alone. Here it is
evaluated on a grid of ``points`` distances :math:`r_0 = 0 < \dots < r_{G-1} = r_\mathrm{max}`
(values and exact derivatives :math:`W_t'(r)`) and interpolated per edge with a cubic Hermite
spline,

.. math::

    W_t(r_g + s h) = W_t(r_g)\,h_{00}(s) + h W_t'(r_g)\,h_{10}(s) + W_t(r_{g+1})\,h_{01}(s)
    + h W_t'(r_{g+1})\,h_{11}(s),

whose error is :math:`h^4 \max|W^{(4)}| / 384` (about 1e-9 relative for ``h = 0.006`` Angstrom and
Gaussians 0.25 Angstrom wide). Hand-written because no library tabulates a trainable filter: the
DeePMD-kit compression does it for inference only, NNPOps' fused kernels train nothing.

* **Training** (``model.train()``): the grid is re-evaluated at every forward pass from the current
  weights, so gradients reach the filter weights exactly through the table, and forces and
  their double backward (``create_graph=True``) go through the spline's derivative.
* **Inference and MD** (``model.eval()``): the table is built once under ``no_grad`` (in float64,
  rounded) and reused until a filter weight changes (keyed on the parameters' storage and version
  counters: optimizers, ``load_state_dict`` and in-place edits are seen; edits through ``.data``
  are not, call :meth:`FastSchNet.clear_table` after them). Gradients still reach the positions
  (forces), but not the filter weights; call ``.train()`` to train.
* The cosine envelope is PyG's, not masked beyond the cutoff (it rises again between ``r_c`` and
  ``2 r_c``): the published model was trained with it. Edges longer than ``r_max`` (12 Angstrom
  by default) fall back to the exact filter; :attr:`FastSchNet.fallback_edges` counts them.

Message passing is dense: every atom has a row of ``k`` neighbour slots (:func:`hydronet_nb.model.graph.knn_neighbours`,
whose valid slots are :func:`~hydronet_nb.model.graph.knn_edge_index`'s edges), so aggregation is a sum over the
slot axis instead of a scatter. The module subclasses PyG's SchNet and adds no parameters or
buffers, so its ``state_dict`` is PyG's exactly and weights move freely in both directions. With
another interaction graph swapped in (the fixed-size packs of IPUs, a radius graph) it runs PyG's
own forward: PopTorch traces exactly PyG's module.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch_geometric.nn.models import SchNet

from .cfconv import Slots, _conv, _dot, _scatter, edge_conv
from .graph import DEFAULT_K, KNNInteractionGraph, knn_neighbours

#: grid of the filter table: points and largest tabulated distance (Angstrom)
TABLE_POINTS = 2048
TABLE_MAX = 12.0
_LOG2 = math.log(2.0)


def _filter_values_and_slopes(block, r: torch.Tensor, offset: torch.Tensor, coeff: float, cutoff: float):
    """``W(r)`` and ``dW/dr`` of one interaction's filter network at distances ``r`` [G], in ``r``'s dtype."""
    w1, b1, w2, b2 = (t.to(r.dtype) for t in (block.mlp[0].weight, block.mlp[0].bias,
                                               block.mlp[2].weight, block.mlp[2].bias))
    offset = offset.to(r.dtype)
    diff = r.view(-1, 1) - offset.view(1, -1)
    g = torch.exp(coeff * diff.square())
    dg = 2.0 * coeff * diff * g
    a = F.linear(g, w1, b1)
    da = F.linear(dg, w1)
    s = F.softplus(a) - _LOG2
    ds = torch.sigmoid(a) * da
    m = F.linear(s, w2, b2)
    dm = F.linear(ds, w2)
    c = 0.5 * (torch.cos(r * math.pi / cutoff) + 1.0)
    dc = -0.5 * math.pi / cutoff * torch.sin(r * math.pi / cutoff)
    return m * c.view(-1, 1), dm * c.view(-1, 1) + m * dc.view(-1, 1)


def _exact_filter(block, r: torch.Tensor, offset: torch.Tensor, coeff: float, cutoff: float) -> torch.Tensor:
    """PyG's filter ``nn(gaussians(r)) * C(r)`` for the edges outside the table."""
    g = torch.exp(coeff * (r.view(-1, 1) - offset.view(1, -1)).square())
    return block.mlp(g) * (0.5 * (torch.cos(r * math.pi / cutoff) + 1.0)).view(-1, 1)


class FastSchNet(SchNet):
    """PyG's SchNet (sum readout, kNN graph) with tabulated filters and dense message passing.

    ``forward(z, pos, batch) -> energies [clusters]`` like PyG's (shape ``[clusters, 1]``).
    ``points`` and ``r_max`` set the filter table (spacing ``r_max / (points - 1)``).
    """

    def __init__(self, hidden_channels: int = 100, num_filters: int = 100, num_interactions: int = 4,
                 num_gaussians: int = 25, cutoff: float = 6.0, k: int = DEFAULT_K,
                 points: int = TABLE_POINTS, r_max: float = TABLE_MAX):
        super().__init__(hidden_channels=hidden_channels, num_filters=num_filters,
                         num_interactions=num_interactions, num_gaussians=num_gaussians, cutoff=cutoff,
                         readout="add", interaction_graph=KNNInteractionGraph(k))
        if points < 4 or not r_max > 0:
            raise ValueError(f"filter table needs points >= 4 and r_max > 0, got {points}, {r_max}")
        self.k, self.points, self.r_max = k, int(points), float(r_max)
        self.fallback_edges = 0  # edges longer than r_max, evaluated exactly (cumulative)
        self._cache = None  # (key, table) in eval mode; a plain attribute, never in the state_dict

    # --- the filter table -----------------------------------------------------------------------

    def _filter_params(self):
        return [p for block in self.interactions for p in block.mlp.parameters()]

    def filter_tables(self, precise: bool = False) -> list[torch.Tensor]:
        """Values and slopes ``[2, points, filters]`` of each interaction's filter on the grid.

        Differentiable with respect to the filter weights. ``precise``: evaluated in float64 and
        rounded to the weights' dtype at the end (for inference: the spline's slope between two
        grid points depends on the difference of their values).
        """
        offset = self.distance_expansion.offset
        coeff, cutoff = self.distance_expansion.coeff, self.cutoff
        work = torch.float64 if precise else offset.dtype
        r = torch.linspace(0.0, self.r_max, self.points, device=offset.device, dtype=work)
        return [torch.stack(_filter_values_and_slopes(b, r, offset, coeff, cutoff)).to(offset.dtype)
                for b in self.interactions]

    def clear_table(self) -> None:
        """Forget the cached inference table (after changing weights through ``.data``)."""
        self._cache = None

    def _tables(self) -> list[torch.Tensor]:
        if self.training:
            return self.filter_tables()
        params = self._filter_params() + [self.distance_expansion.offset]
        key = tuple((p.data_ptr(), p._version, p.dtype, p.device) for p in params) + (self.points, self.r_max)
        if self._cache is None or self._cache[0] != key:
            with torch.no_grad():
                self._cache = (key, [t.contiguous() for t in self.filter_tables(precise=True)])
        return self._cache[1]

    def _fallback(self, t: int, x: torch.Tensor, r: torch.Tensor, neighbours: torch.Tensor, far: torch.Tensor):
        """Exact filter on the valid slots longer than ``r_max``: their messages ``[atoms, F]``."""
        a, s = far.nonzero(as_tuple=True)
        offset, coeff = self.distance_expansion.offset, self.distance_expansion.coeff
        w = _exact_filter(self.interactions[t], r[a, s], offset, coeff, self.cutoff)
        out = torch.zeros_like(x)
        return out.index_add(0, a, x.index_select(0, neighbours[a, s]) * w)

    # --- the model --------------------------------------------------------------------------------

    def _slots(self, pos: torch.Tensor, batch: torch.Tensor):
        """Neighbour slots ``[A, k]``, their mask, vectors ``[A, k, 3]`` and lengths ``[A, k]``."""
        neighbours, valid = knn_neighbours(pos, batch, self.k)
        diff = pos.index_select(0, neighbours.view(-1)).view(*neighbours.shape, 3) - pos.unsqueeze(1)
        # empty slots (an atom paired with itself) get a unit vector: no zero-length norm, no NaN gradient
        diff = torch.where(valid.unsqueeze(-1), diff, torch.ones_like(diff))
        return neighbours, valid, diff, diff.norm(dim=-1)

    def forward(self, z: torch.Tensor, pos: torch.Tensor, batch: torch.Tensor | None = None) -> torch.Tensor:
        if batch is None:
            batch = torch.zeros_like(z)
        graph = self.interaction_graph
        if type(graph) is not KNNInteractionGraph or graph.k != self.k:
            # another graph was swapped in (packs, a radius graph): PyG's own forward with it
            return super().forward(z, pos, batch)
        neighbours, valid, diff, r = self._slots(pos, batch)
        far = valid & (r.detach() >= self.r_max)
        n_far = int(far.sum())
        self.fallback_edges += n_far
        weight = (valid & ~far).to(pos.dtype)
        slots = Slots(neighbours, (self.points - 1) / self.r_max, z.size(0))
        h = self.embedding(z)
        for t, (block, table) in enumerate(zip(self.interactions, self._tables())):
            x = block.conv.lin1(h)
            m = edge_conv(x, weight, r, table, slots)
            if n_far:
                m = m + self._fallback(t, x, r, neighbours, far)
            h = h + block.lin(block.act(block.conv.lin2(m)))
        h = self.lin2(self.act(self.lin1(h)))
        n_clusters = int(batch.max()) + 1 if batch.numel() else 0
        out = torch.zeros(n_clusters, h.size(-1), dtype=h.dtype, device=h.device)
        return out.index_add(0, batch, h)

    @torch.no_grad()
    def energy_and_forces(self, z: torch.Tensor, pos: torch.Tensor, batch: torch.Tensor | None = None):
        """Energies ``[clusters]`` and forces ``[atoms, 3]`` without autograd (inference and MD).

        The chain rule written out: forward through the blocks keeping what the backward needs, then
        the gradient of the summed energy with respect to the atom features, block by block, down to
        the slot lengths and the positions. The same numbers as ``autograd.grad`` of :meth:`forward`
        (tested), with no graph to record. Falls back to autograd where that path applies (training
        mode, swapped-in graphs, slots beyond the table).
        """
        if batch is None:
            batch = torch.zeros_like(z)
        graph = self.interaction_graph
        neighbours, valid, diff, r = self._slots(pos, batch)
        if self.training or type(graph) is not KNNInteractionGraph or graph.k != self.k or bool((valid & (r >= self.r_max)).any()):
            with torch.enable_grad():
                p = pos.detach().requires_grad_(True)
                e = self(z, p, batch).view(-1)
                (g,) = torch.autograd.grad(e.sum(), p)
            return e.detach(), -g
        weight = valid.to(pos.dtype)
        slots = Slots(neighbours, (self.points - 1) / self.r_max, z.size(0))
        tables = self._tables()
        h = self.embedding(z)
        saved = []
        for block, table in zip(self.interactions, tables):
            x = F.linear(h, block.conv.lin1.weight)
            a = block.conv.lin2(_conv(x, weight, r, table, slots, 0))
            b = block.act(a)
            h = h + block.lin(b)
            saved.append((x, a))
        u = self.lin1(h)
        energy_atoms = self.lin2(self.act(u))
        n_clusters = int(batch.max()) + 1 if batch.numel() else 0
        energies = torch.zeros(n_clusters, dtype=h.dtype, device=h.device).index_add_(0, batch, energy_atoms.view(-1))
        # backward: dE/dh through the readout, then each block in reverse
        g = (torch.sigmoid(u) * self.lin2.weight.view(1, -1)) @ self.lin1.weight  # [A, F]
        g_r = torch.zeros_like(r)
        for block, table, (x, a) in zip(reversed(self.interactions), reversed(tables), reversed(saved)):
            g_m = ((g @ block.lin.weight) * torch.sigmoid(a)) @ block.conv.lin2.weight
            g_r += weight * _dot(g_m, x, r, table, slots, 1)
            g = g + _scatter(g_m, weight, r, table, slots, 0) @ block.conv.lin1.weight
        # r = |pos[j] - pos[i]|: dr/dpos[j] = unit, dr/dpos[i] = -unit
        per_slot = (g_r / r).unsqueeze(-1) * diff  # [A, k, 3]
        grad = -per_slot.sum(1)
        grad.index_add_(0, neighbours.view(-1), per_slot.view(-1, 3))
        return energies, -grad
