r"""The tabulated continuous-filter convolution and its derivatives of every order.

For one interaction, with neighbour slots ``nbr[a, s]`` of atom ``a``, a per-slot weight
``e[a, s]`` (1 for a real edge, 0 for an empty slot) and the spline filter ``w(r)`` read from a
table ``T[2, G, f]`` of its values and slopes on a grid (a cubic Hermite spline) (:mod:`hydronet_nb.model.fast`),

.. math::

    m_{af} = \sum_s e_{as}\, x_{n_{as} f}\, w_f(r_{as}).

Its gradients are again sums of the same four shapes -- a convolution, its transpose (a
scatter to the neighbours), a per-slot dot product, and the table's gradient -- with the filter
replaced by its derivative, so four autograd functions that call each other give exact
derivatives of any order: forces, and the double backward of a force loss.

Each shape has two implementations: fused C++ loops (``cfconv_kernels.cpp``, compiled once with
the system's C++ compiler into the cache folder and loaded with ctypes; CPU tensors) and PyTorch
ops (any device; the reference in the tests). :func:`kernel_backend` says which one is used. The compiled
library's sha256 is kept beside it and checked at every load: a 0-byte or damaged library is built again.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import torch

_SOURCE = Path(__file__).with_name("cfconv_kernels.cpp")
_LIB = None
_LIB_ERROR: str | None = None
_FORCE_TORCH = os.environ.get("HYDRONET_NB_FAST_KERNELS", "").lower() in ("0", "off", "torch")


def _cache_dir() -> Path:
    root = os.environ.get("HYDRONET_NB_CACHE") or Path.home() / ".cache" / "hydronet_nb"
    return Path(root) / "kernels"


def _cpu_key() -> str:
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        flags = platform.processor()
    return flags


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _compile() -> ctypes.CDLL:
    source = _SOURCE.read_bytes()
    compiler = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")
    if compiler is None:
        raise RuntimeError("no C++ compiler found (g++, c++ or clang++)")
    flags = ["-O3", "-march=native", "-fopenmp", "-shared", "-fPIC", "-std=c++17"]
    key = hashlib.sha256(source + " ".join([compiler, *flags, platform.machine(), _cpu_key()]).encode()).hexdigest()[:16]
    target = _cache_dir() / f"cfconv_kernels_{key}.so"
    # the library's sha256 beside it: a 0-byte, truncated or damaged library (a killed copy, a full disk, a bad
    # block) is built anew instead of leaving the slow path in place for good
    digest = target.with_name(target.name + ".sha256")
    try:
        if target.exists():
            if digest.is_file() and digest.read_text().strip() == _sha256(target):
                try:
                    return _bind(ctypes.CDLL(str(target)))
                except (OSError, AttributeError):
                    pass
            target.unlink(missing_ok=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            built = Path(tmp) / target.name
            result = subprocess.run([compiler, *flags, str(_SOURCE), "-o", str(built)],
                                    capture_output=True, text=True)
            if result.returncode != 0:
                raise RuntimeError(f"{compiler} failed on {_SOURCE.name}: {result.stderr.strip()[-500:]}")
            (Path(tmp) / digest.name).write_text(_sha256(built) + "\n")
            os.replace(Path(tmp) / digest.name, digest)
            os.replace(built, target)  # atomic: a concurrent process sees the old state or the whole file
    except OSError as exc:
        raise OSError(f"{target.parent}: cannot build the kernels there ({exc.strerror or exc}); "
                      "$HYDRONET_NB_CACHE names the cache folder") from exc
    try:
        return _bind(ctypes.CDLL(str(target)))
    except (OSError, AttributeError) as exc:
        raise OSError(f"{target}: the freshly built library does not load ({exc})") from exc


def _bind(lib: ctypes.CDLL) -> ctypes.CDLL:
    """Declare the kernels' argument types; AttributeError when ``lib`` lacks one (not this source's library)."""
    i64, i32, ptr = ctypes.c_int64, ctypes.c_int, ctypes.c_void_p
    for suffix, real in (("f32", ctypes.c_float), ("f64", ctypes.c_double)):
        getattr(lib, f"edge_conv_{suffix}").argtypes = [i64] * 4 + [ptr] * 5 + [real, i32, ptr, i32]
        getattr(lib, f"edge_scatter_{suffix}").argtypes = [i64] * 5 + [ptr] * 5 + [real, i32, ptr, i32]
        getattr(lib, f"edge_dot_{suffix}").argtypes = [i64] * 4 + [ptr] * 5 + [real, i32, ptr, i32]
        getattr(lib, f"table_grad_{suffix}").argtypes = [i64] * 4 + [ptr] * 5 + [real, i32, ptr, i32]
    return lib


def _library():
    global _LIB, _LIB_ERROR
    if _LIB is None and _LIB_ERROR is None and not _FORCE_TORCH:
        try:
            _LIB = _compile()
        except (OSError, RuntimeError) as exc:
            _LIB_ERROR = str(exc)
            warnings.warn(f"fast SchNet: fused CPU kernels unavailable ({exc}); using PyTorch ops", stacklevel=3)
    return _LIB


def kernel_backend(device: torch.device | str = "cpu") -> str:
    """``"fused C++"`` when the compiled kernels serve tensors on ``device``, else ``"pytorch"``."""
    return "fused C++" if torch.device(device).type == "cpu" and _library() is not None else "pytorch"


class Slots:
    """The neighbour slots of a batch: ``nbr [A, K]`` (int64) and the table's spacing."""

    def __init__(self, nbr: torch.Tensor, inv_h: float, n_atoms: int):
        self.nbr = nbr.contiguous()
        self.inv_h = float(inv_h)
        self.n_atoms = int(n_atoms)


def _use_c(*tensors) -> bool:
    return tensors[0].device.type == "cpu" and tensors[0].dtype in (torch.float32, torch.float64) \
        and _library() is not None


def _call(name: str, dtype, *args):
    fn = getattr(_LIB, f"{name}_{'f32' if dtype == torch.float32 else 'f64'}")
    conv = []
    for a in args:
        conv.append(a.data_ptr() if isinstance(a, torch.Tensor) else a)
    fn(*conv, torch.get_num_threads())


# --- PyTorch reference implementations ------------------------------------------------------------

def _hermite(s: torch.Tensor, order: int):
    """The four Hermite basis functions (value, slope, value, slope) or their ``order``-th s-derivative."""
    one, zero = torch.ones_like(s), torch.zeros_like(s)
    s2, s3 = s * s, s * s * s
    return {0: (2 * s3 - 3 * s2 + 1, s3 - 2 * s2 + s, -2 * s3 + 3 * s2, s3 - s2),
            1: (6 * s2 - 6 * s, 3 * s2 - 4 * s + 1, -6 * s2 + 6 * s, 3 * s2 - 2 * s),
            2: (12 * s - 6, 6 * s - 4, -12 * s + 6, 6 * s - 2),
            3: (12 * one, 6 * one, -12 * one, 6 * one)}.get(order, (zero,) * 4)


def _weights(r: torch.Tensor, points: int, inv_h: float, order: int):
    """Interval index ``[E]`` and the weights ``[E, 4]`` of rows value[g], slope[g], value[g+1], slope[g+1]."""
    u = r.reshape(-1) * inv_h
    g = u.floor().nan_to_num(0.0).clamp(0, points - 2)
    b = torch.stack(_hermite(u - g, order), -1) * inv_h ** order
    b = b * torch.tensor([1.0, 1.0 / inv_h, 1.0, 1.0 / inv_h], dtype=b.dtype, device=b.device)
    return g.long(), b


def _spline(r: torch.Tensor, table: torch.Tensor, inv_h: float, order: int) -> torch.Tensor:
    """``w_order(r)`` for every slot: ``[*r.shape, F]`` (table ``[2, G, F]``: values, slopes)."""
    g, b = _weights(r, table.size(1), inv_h, order)
    rows = (table[0, g], table[1, g], table[0, g + 1], table[1, g + 1])
    return sum(b[:, i:i + 1] * rows[i] for i in range(4)).view(*r.shape, -1)


def _conv_torch(x, e, r, table, slots, order):
    w = _spline(r, table, slots.inv_h, order)
    return (e.unsqueeze(-1) * x[slots.nbr] * w).sum(1)


def _scatter_torch(g, e, r, table, slots, order):
    w = _spline(r, table, slots.inv_h, order)
    out = torch.zeros(slots.n_atoms, g.size(-1), dtype=g.dtype, device=g.device)
    return out.index_add_(0, slots.nbr.reshape(-1), (e.unsqueeze(-1) * g.unsqueeze(1) * w).reshape(-1, g.size(-1)))


def _dot_torch(u, y, r, table, slots, order):
    return (u.unsqueeze(1) * y[slots.nbr] * _spline(r, table, slots.inv_h, order)).sum(-1)


def _table_grad_torch(u, y, e, r, slots, order, points):
    f = u.size(-1)
    out = torch.zeros(2, points, f, dtype=u.dtype, device=u.device)
    v = (e.unsqueeze(-1) * u.unsqueeze(1) * y[slots.nbr]).reshape(-1, f)  # [E, F]
    g, b = _weights(r, points, slots.inv_h, order)
    for i, (half, shift) in enumerate(((0, 0), (1, 0), (0, 1), (1, 1))):
        out[half].index_add_(0, g + shift, b[:, i:i + 1] * v)
    return out


# --- the four shapes, C++ or PyTorch ------------------------------------------------------------

def _conv(x, e, r, table, slots, order):
    if not _use_c(x):
        return _conv_torch(x, e, r, table, slots, order)
    x, e, r, table = (t.contiguous() for t in (x, e, r, table))
    a, k = slots.nbr.shape
    out = torch.empty(a, x.size(-1), dtype=x.dtype)
    _call("edge_conv", x.dtype, a, k, x.size(-1), table.size(1), x, slots.nbr, e, r, table,
          slots.inv_h, order, out)
    return out


def _scatter(g, e, r, table, slots, order):
    if not _use_c(g):
        return _scatter_torch(g, e, r, table, slots, order)
    g, e, r, table = (t.contiguous() for t in (g, e, r, table))
    a, k = slots.nbr.shape
    out = torch.empty(slots.n_atoms, g.size(-1), dtype=g.dtype)
    _call("edge_scatter", g.dtype, a, k, g.size(-1), table.size(1), slots.n_atoms, g, slots.nbr, e, r,
          table, slots.inv_h, order, out)
    return out


def _dot(u, y, r, table, slots, order):
    if not _use_c(u):
        return _dot_torch(u, y, r, table, slots, order)
    u, y, r, table = (t.contiguous() for t in (u, y, r, table))
    a, k = slots.nbr.shape
    out = torch.empty(a, k, dtype=u.dtype)
    _call("edge_dot", u.dtype, a, k, u.size(-1), table.size(1), u, y, slots.nbr, r, table,
          slots.inv_h, order, out)
    return out


def _table_grad(u, y, e, r, slots, order, points):
    if not _use_c(u):
        return _table_grad_torch(u, y, e, r, slots, order, points)
    u, y, e, r = (t.contiguous() for t in (u, y, e, r))
    a, k = slots.nbr.shape
    out = torch.empty(2, points, u.size(-1), dtype=u.dtype)
    _call("table_grad", u.dtype, a, k, u.size(-1), points, u, y, slots.nbr, e, r,
          slots.inv_h, order, out)
    return out


# --- autograd: each shape's gradient is made of the four shapes ------------------------------------

def _needs(ctx, i):
    return ctx.needs_input_grad[i]


class EdgeConv(torch.autograd.Function):
    """``m[a] = sum_s e[a,s] x[nbr[a,s]] * w_o(r[a,s])``."""

    @staticmethod
    def forward(ctx, x, e, r, table, slots, order):
        ctx.save_for_backward(x, e, r, table)
        ctx.slots, ctx.order = slots, order
        return _conv(x, e, r, table, slots, order)

    @staticmethod
    def backward(ctx, gout):
        x, e, r, table = ctx.saved_tensors
        s, o = ctx.slots, ctx.order
        gx = EdgeScatter.apply(gout, e, r, table, s, o) if _needs(ctx, 0) else None
        ge = EdgeDot.apply(gout, x, r, table, s, o) if _needs(ctx, 1) else None
        gr = e * EdgeDot.apply(gout, x, r, table, s, o + 1) if _needs(ctx, 2) else None
        gt = TableGrad.apply(gout, x, e, r, s, o, table.size(1)) if _needs(ctx, 3) else None
        return gx, ge, gr, gt, None, None


class EdgeScatter(torch.autograd.Function):
    """``out[n] = sum over slots pointing at n of e[a,s] g[a] * w_o(r[a,s])`` (EdgeConv's transpose)."""

    @staticmethod
    def forward(ctx, g, e, r, table, slots, order):
        ctx.save_for_backward(g, e, r, table)
        ctx.slots, ctx.order = slots, order
        return _scatter(g, e, r, table, slots, order)

    @staticmethod
    def backward(ctx, gout):
        g, e, r, table = ctx.saved_tensors
        s, o = ctx.slots, ctx.order
        gg = EdgeConv.apply(gout, e, r, table, s, o) if _needs(ctx, 0) else None
        ge = EdgeDot.apply(g, gout, r, table, s, o) if _needs(ctx, 1) else None
        gr = e * EdgeDot.apply(g, gout, r, table, s, o + 1) if _needs(ctx, 2) else None
        gt = TableGrad.apply(g, gout, e, r, s, o, table.size(1)) if _needs(ctx, 3) else None
        return gg, ge, gr, gt, None, None


class EdgeDot(torch.autograd.Function):
    """``d[a,s] = sum_f u[a,f] y[nbr[a,s],f] w_o(r[a,s])_f``."""

    @staticmethod
    def forward(ctx, u, y, r, table, slots, order):
        ctx.save_for_backward(u, y, r, table)
        ctx.slots, ctx.order = slots, order
        return _dot(u, y, r, table, slots, order)

    @staticmethod
    def backward(ctx, gd):
        u, y, r, table = ctx.saved_tensors
        s, o = ctx.slots, ctx.order
        gu = EdgeConv.apply(y, gd, r, table, s, o) if _needs(ctx, 0) else None
        gy = EdgeScatter.apply(u, gd, r, table, s, o) if _needs(ctx, 1) else None
        gr = gd * EdgeDot.apply(u, y, r, table, s, o + 1) if _needs(ctx, 2) else None
        gt = TableGrad.apply(u, y, gd, r, s, o, table.size(1)) if _needs(ctx, 3) else None
        return gu, gy, gr, gt, None, None


class TableGrad(torch.autograd.Function):
    """The gradient of ``sum e u[a] y[nbr] w_o(r)`` with respect to the table ``[2, G, F]`` (linear in it)."""

    @staticmethod
    def forward(ctx, u, y, e, r, slots, order, points):
        ctx.save_for_backward(u, y, e, r)
        ctx.slots, ctx.order = slots, order
        return _table_grad(u, y, e, r, slots, order, points)

    @staticmethod
    def backward(ctx, gt):
        u, y, e, r = ctx.saved_tensors
        s, o = ctx.slots, ctx.order
        gu = EdgeConv.apply(y, e, r, gt, s, o) if _needs(ctx, 0) else None
        gy = EdgeScatter.apply(u, e, r, gt, s, o) if _needs(ctx, 1) else None
        ge = EdgeDot.apply(u, y, r, gt, s, o) if _needs(ctx, 2) else None
        gr = e * EdgeDot.apply(u, y, r, gt, s, o + 1) if _needs(ctx, 3) else None
        return gu, gy, ge, gr, None, None, None


def edge_conv(x: torch.Tensor, e: torch.Tensor, r: torch.Tensor, table: torch.Tensor, slots: Slots) -> torch.Tensor:
    """The tabulated continuous-filter convolution ``[atoms, F]`` (differentiable to any order)."""
    return EdgeConv.apply(x, e, r, table, slots, 0)
