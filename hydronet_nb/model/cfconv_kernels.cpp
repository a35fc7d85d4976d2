// Fused CPU kernels of the tabulated continuous-filter convolution (hydronet_nb.fast_ops).
//
// Written by hand because no library does this: the filter of an edge is a cubic spline
// interpolated from a table, and every kernel below reads the table, the neighbour's features
// and accumulates in one pass, without writing the per-edge filters [edges, filters] to memory
// (PyTorch's eager ops would, several times per step). Plain C ABI, no torch headers: it
// compiles in about a second with g++ and is called through ctypes on contiguous tensors.
//
// Layout: atoms A, neighbour slots K per atom (nbr[A*K], the neighbour's atom index), channels F,
// table T[2][G][F]: the filter's values and slopes dW/dr at the G grid points r_g = g h; on the
// interval [r_g, r_g+1] the filter is the cubic Hermite spline through both ends, s = r/h - g.
// "order" o picks the o-th derivative with respect to r of the spline (o > 3 gives zero).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

// Hermite basis of the o-th derivative at slot length r, for the four table rows of interval g:
// value[g], slope[g], value[g+1], slope[g+1] (slopes are dW/dr, hence the factors h).
template <typename T>
inline void basis(T r, T inv_h, int64_t G, int order, T scale, int64_t &g, T b[4]) {
  T u = r * inv_h;
  T fl = std::floor(u);
  if (!(fl >= 0)) fl = 0;  // also catches NaN: index 0, the NaN stays in s
  if (fl > (T)(G - 2)) fl = (T)(G - 2);
  g = (int64_t)fl;
  const T s = u - fl, s2 = s * s, s3 = s2 * s, h = 1 / inv_h;
  T p = scale;
  for (int i = 0; i < order; ++i) p *= inv_h;
  switch (order) {
    case 0: b[0] = 2 * s3 - 3 * s2 + 1; b[1] = s3 - 2 * s2 + s; b[2] = -2 * s3 + 3 * s2; b[3] = s3 - s2; break;
    case 1: b[0] = 6 * s2 - 6 * s; b[1] = 3 * s2 - 4 * s + 1; b[2] = -6 * s2 + 6 * s; b[3] = 3 * s2 - 2 * s; break;
    case 2: b[0] = 12 * s - 6; b[1] = 6 * s - 4; b[2] = -12 * s + 6; b[3] = 6 * s - 2; break;
    case 3: b[0] = 12; b[1] = 6; b[2] = -12; b[3] = 6; break;
    default: b[0] = b[1] = b[2] = b[3] = 0;
  }
  b[0] *= p; b[1] *= p * h; b[2] *= p; b[3] *= p * h;
}

inline int omp_threads() {
#ifdef _OPENMP
  return omp_get_num_threads();
#else
  return 1;
#endif
}

inline int omp_thread() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// the thread count of one parallel region (num_threads clause): never omp_set_num_threads, which
// would change the OpenMP runtime's default, the one torch's own parallel regions share
inline int nthreads(int threads) {
#ifdef _OPENMP
  return threads > 0 ? threads : omp_get_max_threads();
#else
  return 1;
#endif
}

// out[a, f] = sum_s e[a, s] x[nbr[a, s], f] w_o(r[a, s])[f]
template <typename T>
void edge_conv(int64_t A, int64_t K, int64_t F, int64_t G, const T *x, const int64_t *nbr, const T *e,
               const T *r, const T *tab, T inv_h, int order, T *out, int threads) {
#pragma omp parallel for schedule(static) num_threads(nthreads(threads))
  for (int64_t a = 0; a < A; ++a) {
    T *__restrict__ o = out + a * F;
    for (int64_t f = 0; f < F; ++f) o[f] = 0;
    for (int64_t s = 0; s < K; ++s) {
      const int64_t q = a * K + s;
      if (e[q] == 0) continue;
      int64_t g;
      T b[4];
      basis<T>(r[q], inv_h, G, order, e[q], g, b);
      const T *__restrict__ t0 = tab + g * F, *__restrict__ t2 = t0 + F, *__restrict__ t1 = tab + (G + g) * F,
              *__restrict__ t3 = t1 + F;
      const T *__restrict__ xr = x + nbr[q] * F;
#pragma omp simd
      for (int64_t f = 0; f < F; ++f) o[f] += xr[f] * (b[0] * t0[f] + b[1] * t1[f] + b[2] * t2[f] + b[3] * t3[f]);
    }
  }
}

// out[n, f] = sum over slots (a, s) with nbr[a, s] = n of e[a, s] g[a, f] w_o(r[a, s])[f]
template <typename T>
void edge_scatter(int64_t A, int64_t K, int64_t F, int64_t G, int64_t N, const T *gin, const int64_t *nbr,
                  const T *e, const T *r, const T *tab, T inv_h, int order, T *out, int threads) {
  std::memset(out, 0, sizeof(T) * N * F);
  // each thread sums into its own buffer (no races); the buffers are added in thread order, so the
  // result is the same for a given thread count (one thread writes straight into out)
  std::vector<std::vector<T>> parts;
#pragma omp parallel num_threads(nthreads(threads))
  {
    const int n_threads = omp_threads(), me = omp_thread();
#pragma omp single
    parts.assign(n_threads > 1 ? n_threads : 0, std::vector<T>());
    T *acc = out;
    if (n_threads > 1) {
      parts[me].assign((size_t)(N * F), (T)0);
      acc = parts[me].data();
    }
#pragma omp for schedule(static)
    for (int64_t a = 0; a < A; ++a) {
      const T *__restrict__ ga = gin + a * F;
      for (int64_t s = 0; s < K; ++s) {
        const int64_t q = a * K + s;
        if (e[q] == 0) continue;
        int64_t g;
        T b[4];
        basis<T>(r[q], inv_h, G, order, e[q], g, b);
        const T *__restrict__ t0 = tab + g * F, *__restrict__ t2 = t0 + F, *__restrict__ t1 = tab + (G + g) * F,
              *__restrict__ t3 = t1 + F;
        T *__restrict__ o = acc + nbr[q] * F;
#pragma omp simd
        for (int64_t f = 0; f < F; ++f) o[f] += ga[f] * (b[0] * t0[f] + b[1] * t1[f] + b[2] * t2[f] + b[3] * t3[f]);
      }
    }
  }
  for (const auto &part : parts)
    for (int64_t i = 0; i < N * F; ++i) out[i] += part[(size_t)i];
}

// out[a, s] = sum_f u[a, f] y[nbr[a, s], f] w_o(r[a, s])[f]
template <typename T>
void edge_dot(int64_t A, int64_t K, int64_t F, int64_t G, const T *u, const T *y, const int64_t *nbr,
              const T *r, const T *tab, T inv_h, int order, T *out, int threads) {
#pragma omp parallel for schedule(static) num_threads(nthreads(threads))
  for (int64_t a = 0; a < A; ++a) {
    const T *__restrict__ ua = u + a * F;
    for (int64_t s = 0; s < K; ++s) {
      const int64_t q = a * K + s;
      int64_t g;
      T b[4];
      basis<T>(r[q], inv_h, G, order, (T)1, g, b);
      const T *__restrict__ t0 = tab + g * F, *__restrict__ t2 = t0 + F, *__restrict__ t1 = tab + (G + g) * F,
              *__restrict__ t3 = t1 + F;
      const T *__restrict__ yr = y + nbr[q] * F;
      T acc = 0;
#pragma omp simd reduction(+ : acc)
      for (int64_t f = 0; f < F; ++f) acc += ua[f] * yr[f] * (b[0] * t0[f] + b[1] * t1[f] + b[2] * t2[f] + b[3] * t3[f]);
      out[q] = acc;
    }
  }
}

// out[2][G][F]: the gradient of sum e u y w_o with respect to the table (the Hermite weights)
template <typename T>
void table_grad(int64_t A, int64_t K, int64_t F, int64_t G, const T *u, const T *y, const int64_t *nbr,
                const T *e, const T *r, T inv_h, int order, T *out, int threads) {
  const int64_t size = 2 * G * F;
  std::memset(out, 0, sizeof(T) * size);
  std::vector<std::vector<T>> parts;  // as in edge_scatter: per-thread buffers, added in thread order
#pragma omp parallel num_threads(nthreads(threads))
  {
    const int n_threads = omp_threads(), me = omp_thread();
#pragma omp single
    parts.assign(n_threads > 1 ? n_threads : 0, std::vector<T>());
    T *acc = out;
    if (n_threads > 1) {
      parts[me].assign((size_t)size, (T)0);
      acc = parts[me].data();
    }
#pragma omp for schedule(static)
    for (int64_t a = 0; a < A; ++a) {
      const T *__restrict__ ua = u + a * F;
      for (int64_t s = 0; s < K; ++s) {
        const int64_t q = a * K + s;
        if (e[q] == 0) continue;
        int64_t g;
        T b[4];
        basis<T>(r[q], inv_h, G, order, e[q], g, b);
        const T *__restrict__ yr = y + nbr[q] * F;
        T *__restrict__ o0 = acc + g * F, *__restrict__ o2 = o0 + F, *__restrict__ o1 = acc + (G + g) * F,
                       *__restrict__ o3 = o1 + F;
#pragma omp simd
        for (int64_t f = 0; f < F; ++f) {
          const T v = ua[f] * yr[f];
          o0[f] += b[0] * v; o1[f] += b[1] * v; o2[f] += b[2] * v; o3[f] += b[3] * v;
        }
      }
    }
  }
  for (const auto &part : parts)
    for (int64_t i = 0; i < size; ++i) out[i] += part[(size_t)i];
}

}  // namespace

#define EXPORT(T, SUFFIX)                                                                               \
  extern "C" void edge_conv_##SUFFIX(int64_t A, int64_t K, int64_t F, int64_t G, const T *x,            \
                                     const int64_t *nbr, const T *e, const T *r, const T *tab, T inv_h, \
                                     int order, T *out, int threads) {                                  \
    edge_conv<T>(A, K, F, G, x, nbr, e, r, tab, inv_h, order, out, threads);                            \
  }                                                                                                     \
  extern "C" void edge_scatter_##SUFFIX(int64_t A, int64_t K, int64_t F, int64_t G, int64_t N,         \
                                        const T *g, const int64_t *nbr, const T *e, const T *r,         \
                                        const T *tab, T inv_h, int order, T *out, int threads) {        \
    edge_scatter<T>(A, K, F, G, N, g, nbr, e, r, tab, inv_h, order, out, threads);                      \
  }                                                                                                     \
  extern "C" void edge_dot_##SUFFIX(int64_t A, int64_t K, int64_t F, int64_t G, const T *u, const T *y, \
                                    const int64_t *nbr, const T *r, const T *tab, T inv_h, int order,   \
                                    T *out, int threads) {                                              \
    edge_dot<T>(A, K, F, G, u, y, nbr, r, tab, inv_h, order, out, threads);                             \
  }                                                                                                     \
  extern "C" void table_grad_##SUFFIX(int64_t A, int64_t K, int64_t F, int64_t G, const T *u,           \
                                      const T *y, const int64_t *nbr, const T *e, const T *r, T inv_h,  \
                                      int order, T *out, int threads) {                                 \
    table_grad<T>(A, K, F, G, u, y, nbr, e, r, inv_h, order, out, threads);                             \
  }

EXPORT(float, f32)
EXPORT(double, f64)
