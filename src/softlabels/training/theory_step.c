/* The theory regime's step as one compiled pass per (replicate, width): softlabels.training.theory_kernel
 * builds this file with the system's C compiler at first use and calls it through ctypes; where it cannot
 * be built (no compiler, no AVX2 and FMA) the trainer takes its PyTorch step instead.
 *
 * A segment k of replicate r is a network of m_k units f(x) = sum_j a_j ReLU(w_j . x) with fixed a_j. The
 * forward pass gives f on every sample; the backward pass, given g = dL/df per sample, gives
 * dL/dw_j = a_j sum_i 1[w_j . x_i > 0] g_i x_i. Units are the vector axis (8 lanes of AVX2): each segment's
 * weights are transposed into (d, m_k rounded up to 8) with zero padding, so every unit's d weights sit in
 * registers while samples stream through. Nothing larger than one segment's weights (at most a few KB) and
 * the inputs is touched, so the step runs at the speed of its arithmetic, not of memory.
 *
 * The numbers depend only on (replicate, segment): the same computation in the same order for a width
 * whatever other widths or replicates are trained beside it. w . x is x_0 w_0, then fused multiply-adds
 * of x_1 w_1, x_2 w_2, ...; f sums lane l's units (j = l mod 8, ascending) and then the eight lanes in a
 * fixed tree; the gradient sums samples in ascending order per unit. Built with -ffp-contract=off, so the
 * compiler fuses nothing beyond the intrinsics written here.
 */
#include <stdint.h>
#include <string.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SL_X86 1
#endif

#define LANES 8

int sl_version(void) { return 1; }

/* Whether this CPU can run the kernel (AVX2 and FMA). */
int sl_supported(void) {
#ifdef SL_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

#ifdef SL_X86
#define TARGET __attribute__((target("avx2,fma")))

TARGET static inline float hsum8(__m256 v) {
    /* (l0 + l4) + (l2 + l6), (l1 + l5) + (l3 + l7), then their sum: a fixed order */
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    __m128 s = _mm_add_ps(lo, hi);
    __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
    __m128 u = _mm_add_ss(t, _mm_shuffle_ps(t, t, 1));
    return _mm_cvtss_f32(u);
}

/* w_j . x for 8 units: wt holds the d weight rows (each of stride mp), x one sample's d inputs */
TARGET static inline __attribute__((always_inline)) __m256 dot8(const float *wt, int mp, const float *x, int d) {
    __m256 z = _mm256_mul_ps(_mm256_broadcast_ss(x), _mm256_loadu_ps(wt));
    for (int c = 1; c < d; c++)
        z = _mm256_fmadd_ps(_mm256_broadcast_ss(x + c), _mm256_loadu_ps(wt + (size_t)c * mp), z);
    return z;
}

/* Transpose one segment's weights W (m, d) into wt (d, mp), a into ap (mp), zero-padded to mp units. */
static void pack(const float *W, const float *a, int m, int mp, int d, float *wt, float *ap) {
    memset(wt, 0, sizeof(float) * (size_t)d * mp);
    if (ap) memset(ap, 0, sizeof(float) * (size_t)mp);
    for (int j = 0; j < m; j++) {
        for (int c = 0; c < d; c++) wt[(size_t)c * mp + j] = W[(size_t)j * d + c];
        if (ap) ap[j] = a[j];
    }
}

/* f_i for every sample: units in blocks of 16 (two vectors); lane l of the first vector sums the units
 * j = 16t + l, of the second j = 16t + 8 + l (ascending t), the two vectors are added, then the lanes (hsum8).
 * Two samples per pass over the units, so each weight load serves both; four independent chains. */
TARGET static inline __attribute__((always_inline)) void forward_one(const float *X, int B, int d, const float *wt,
                                                                     const float *ap, int mp, float *f) {
    const __m256 zero = _mm256_setzero_ps();
    int i = 0;
    for (; i < B; i += 2) {
        const float *x0 = X + (size_t)i * d, *x1 = i + 1 < B ? x0 + d : x0;
        __m256 a0 = zero, b0 = zero, a1 = zero, b1 = zero;
        for (int j = 0; j < mp; j += 2 * LANES) {
            __m256 av = _mm256_loadu_ps(ap + j), bv = _mm256_loadu_ps(ap + j + LANES);
            a0 = _mm256_fmadd_ps(av, _mm256_max_ps(dot8(wt + j, mp, x0, d), zero), a0);
            b0 = _mm256_fmadd_ps(bv, _mm256_max_ps(dot8(wt + j + LANES, mp, x0, d), zero), b0);
            a1 = _mm256_fmadd_ps(av, _mm256_max_ps(dot8(wt + j, mp, x1, d), zero), a1);
            b1 = _mm256_fmadd_ps(bv, _mm256_max_ps(dot8(wt + j + LANES, mp, x1, d), zero), b1);
        }
        f[i] = hsum8(_mm256_add_ps(a0, b0));
        if (i + 1 < B) f[i + 1] = hsum8(_mm256_add_ps(a1, b1));
    }
}

/* acc (d, mp) = sum_i 1[w_j . x_i > 0] gx_i (ascending i), gx_i = g_i x_i given as gx (B, d). Two blocks of
 * 8 units per pass over the samples, so each broadcast input serves both; the mask selects gx (a bitwise and)
 * and an add accumulates it, which keeps the multiply-add units for the pre-activations. */
TARGET static inline __attribute__((always_inline)) void backward_one(const float *X, const float *gx, int B, int d,
                                                                      const float *wt, int mp, float *acc) {
    const __m256 zero = _mm256_setzero_ps();
    for (int j = 0; j < mp; j += 2 * LANES) {
        if (d <= 4) {  /* the accumulators in registers */
            __m256 e[4] = {zero, zero, zero, zero}, o[4] = {zero, zero, zero, zero};
            for (int i = 0; i < B; i++) {
                const float *x = X + (size_t)i * d, *g = gx + (size_t)i * d;
                __m256 s0 = _mm256_cmp_ps(dot8(wt + j, mp, x, d), zero, _CMP_GT_OQ);
                __m256 s1 = _mm256_cmp_ps(dot8(wt + j + LANES, mp, x, d), zero, _CMP_GT_OQ);
                for (int c = 0; c < d; c++) {
                    __m256 gc = _mm256_broadcast_ss(g + c);
                    e[c] = _mm256_add_ps(e[c], _mm256_and_ps(s0, gc));
                    o[c] = _mm256_add_ps(o[c], _mm256_and_ps(s1, gc));
                }
            }
            for (int c = 0; c < d; c++) {
                _mm256_storeu_ps(acc + (size_t)c * mp + j, e[c]);
                _mm256_storeu_ps(acc + (size_t)c * mp + j + LANES, o[c]);
            }
        } else {  /* the same sums, accumulators in memory */
            for (int c = 0; c < d; c++) {
                _mm256_storeu_ps(acc + (size_t)c * mp + j, zero);
                _mm256_storeu_ps(acc + (size_t)c * mp + j + LANES, zero);
            }
            for (int i = 0; i < B; i++) {
                const float *x = X + (size_t)i * d, *g = gx + (size_t)i * d;
                __m256 s0 = _mm256_cmp_ps(dot8(wt + j, mp, x, d), zero, _CMP_GT_OQ);
                __m256 s1 = _mm256_cmp_ps(dot8(wt + j + LANES, mp, x, d), zero, _CMP_GT_OQ);
                for (int c = 0; c < d; c++) {
                    __m256 gc = _mm256_broadcast_ss(g + c);
                    float *p = acc + (size_t)c * mp + j;
                    _mm256_storeu_ps(p, _mm256_add_ps(_mm256_loadu_ps(p), _mm256_and_ps(s0, gc)));
                    _mm256_storeu_ps(p + LANES, _mm256_add_ps(_mm256_loadu_ps(p + LANES), _mm256_and_ps(s1, gc)));
                }
            }
        }
    }
}

/* The same functions with d a constant (the small dimensions of paper A's data), so the compiler unrolls
 * the loops over d and keeps the accumulators in registers; the arithmetic is the same for every d. */
#define SL_DISPATCH(CALL) switch (d) { case 1: { const int d = 1; CALL; } break; \
    case 2: { const int d = 2; CALL; } break; case 3: { const int d = 3; CALL; } break; \
    case 4: { const int d = 4; CALL; } break; default: CALL; }

TARGET static void forward_any(const float *X, int B, int d, const float *wt, const float *ap, int mp, float *f) {
    SL_DISPATCH(forward_one(X, B, d, wt, ap, mp, f))
}

TARGET static void backward_any(const float *X, const float *gx, int B, int d, const float *wt, int mp,
                                float *acc) {
    SL_DISPATCH(backward_one(X, gx, B, d, wt, mp, acc))
}

/* A width rounded up to whole pairs of vectors (the packed layout's row count), and the largest over K widths. */
static int padded(int64_t m) { return (int)((m + 2 * LANES - 1) / (2 * LANES) * (2 * LANES)); }

static int padded_max(int K, const int64_t *widths) {
    int64_t mmax = 0;
    for (int k = 0; k < K; k++) mmax = widths[k] > mmax ? widths[k] : mmax;
    return padded(mmax);
}

#endif

/* The forward pass of every (replicate, segment): X (R, B, d); W the packed weights, segment k's block
 * (R, m_k, d) after the blocks of segments 0..k-1; A the second layer laid out alike, (R, m_k) per segment;
 * f (R, K, B). Returns 0, or -1 if the kernel cannot run here or memory is short. */
int sl_forward(int R, int K, const int64_t *widths, int B, int d, const float *X, const float *W,
               const float *A, float *f) {
#ifdef SL_X86
    if (!sl_supported()) return -1;
    int mpmax = padded_max(K, widths);
    float *wt = malloc(sizeof(float) * ((size_t)d + 1) * mpmax), *ap;
    if (!wt) return -1;
    ap = wt + (size_t)d * mpmax;
    size_t off = 0;  /* rows before segment k, summed over replicates */
    for (int k = 0; k < K; k++) {
        int m = (int)widths[k], mp = padded(m);
        for (int r = 0; r < R; r++) {
            const float *Wk = W + (off + (size_t)r * m) * d, *Ak = A + off + (size_t)r * m;
            pack(Wk, Ak, m, mp, d, wt, ap);
            forward_any(X + (size_t)r * B * d, B, d, wt, ap, mp, f + ((size_t)r * K + k) * B);
        }
        off += (size_t)R * m;
    }
    free(wt);
    return 0;
#else
    return -1;
#endif
}

/* The backward pass: g (R, K, B) = dL/df; gW laid out like W, gW_j = a_j sum_i 1[w_j . x_i > 0] g_i x_i. */
int sl_backward(int R, int K, const int64_t *widths, int B, int d, const float *X, const float *W,
                const float *A, const float *g, float *gW) {
#ifdef SL_X86
    if (!sl_supported()) return -1;
    int mpmax = padded_max(K, widths);
    float *wt = malloc(sizeof(float) * (2 * (size_t)d * mpmax + (size_t)B * d));
    if (!wt) return -1;
    float *acc = wt + (size_t)d * mpmax, *gx = acc + (size_t)d * mpmax;
    size_t off = 0;
    for (int k = 0; k < K; k++) {
        int m = (int)widths[k], mp = padded(m);
        for (int r = 0; r < R; r++) {
            const float *Xr = X + (size_t)r * B * d, *gr = g + ((size_t)r * K + k) * B;
            for (int i = 0; i < B; i++)
                for (int c = 0; c < d; c++) gx[(size_t)i * d + c] = gr[i] * Xr[(size_t)i * d + c];
            const float *Wk = W + (off + (size_t)r * m) * d, *Ak = A + off + (size_t)r * m;
            pack(Wk, NULL, m, mp, d, wt, NULL);
            backward_any(Xr, gx, B, d, wt, mp, acc);
            float *gWk = gW + (off + (size_t)r * m) * d;
            for (int j = 0; j < m; j++)
                for (int c = 0; c < d; c++) gWk[(size_t)j * d + c] = acc[(size_t)c * mp + j] * Ak[j];
        }
        off += (size_t)R * m;
    }
    free(wt);
    return 0;
#else
    return -1;
#endif
}
