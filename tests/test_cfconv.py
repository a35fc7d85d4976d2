"""The tabulated continuous-filter convolution: fused C++ kernels against PyTorch ops, derivatives
checked numerically to second order (forces and the double backward of a force loss)."""
import pytest
import torch

from hydronet_nb.model import cfconv
from hydronet_nb.model.cfconv import EdgeConv, EdgeDot, EdgeScatter, Slots, TableGrad

pytestmark = pytest.mark.skipif(cfconv.kernel_backend("cpu") != "fused C++",
                                reason="no C++ compiler: only the PyTorch implementation is available")


def problem(seed=0, atoms=7, k=4, f=5, points=9, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    nbr = torch.randint(0, atoms, (atoms, k), generator=g)
    valid = torch.rand(atoms, k, generator=g) > 0.2
    e = valid.to(dtype)
    r_max = 3.0
    inv_h = (points - 1) / r_max
    # slot lengths away from the knots, where the spline's higher derivatives jump
    r = (torch.randint(0, points - 1, (atoms, k), generator=g) + 0.1 + 0.8 * torch.rand(atoms, k, generator=g)) / inv_h
    x = torch.randn(atoms, f, generator=g, dtype=dtype)
    table = torch.randn(2, points, f, generator=g, dtype=dtype)
    return x, e, r.to(dtype), table, Slots(nbr, inv_h, atoms)


def with_torch_backend(fn):
    lib = cfconv._LIB
    cfconv._LIB = None
    error = cfconv._LIB_ERROR
    cfconv._LIB_ERROR = "disabled in the test"
    try:
        return fn()
    finally:
        cfconv._LIB, cfconv._LIB_ERROR = lib, error


@pytest.mark.parametrize("order", [0, 1, 2, 3])
def test_kernels_match_pytorch_ops(order):
    x, e, r, table, slots = problem()
    y = torch.randn_like(x)
    cases = {
        "conv": lambda: cfconv._conv(x, e, r, table, slots, order),
        "scatter": lambda: cfconv._scatter(x, e, r, table, slots, order),
        "dot": lambda: cfconv._dot(x, y, r, table, slots, order),
        "table": lambda: cfconv._table_grad(x, y, e, r, slots, order, table.size(1)),
    }
    for name, fn in cases.items():
        fused, reference = fn(), with_torch_backend(fn)
        torch.testing.assert_close(fused, reference, rtol=1e-12, atol=1e-12, msg=name)


def test_float32_kernels_match_float64():
    x, e, r, table, slots = problem()
    out32 = cfconv._conv(x.float(), e.float(), r.float(), table.float(), slots, 0)
    torch.testing.assert_close(out32.double(), cfconv._conv(x, e, r, table, slots, 0), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", ["fused", "pytorch"])
def test_first_and_second_derivatives(backend):
    x, e, r, table, slots = problem(seed=1)
    inputs = (x.requires_grad_(), e.requires_grad_(), r.requires_grad_(), table.requires_grad_())
    ops = {
        "conv": lambda x, e, r, t: EdgeConv.apply(x, e, r, t, slots, 0),
        "scatter": lambda x, e, r, t: EdgeScatter.apply(x, e, r, t, slots, 0),
        "dot": lambda x, e, r, t: EdgeDot.apply(x, x * 0.5 + 1, r, t, slots, 0),
        "table": lambda x, e, r, t: TableGrad.apply(x, x.flip(0), e, r, slots, 0, t.size(1)) * t,
    }

    def check():
        for name, op in ops.items():
            assert torch.autograd.gradcheck(op, inputs), name
            assert torch.autograd.gradgradcheck(op, inputs), name

    check() if backend == "fused" else with_torch_backend(check)


def test_nan_lengths_give_nan_not_a_crash():
    x, e, r, table, slots = problem()
    r[0, 0] = float("nan")
    r[1, 1] = float("inf")
    out = cfconv._conv(x, e, r, table, slots, 0)
    assert out.shape == x.shape
    assert not torch.isfinite(out[0]).all() or e[0, 0] == 0
