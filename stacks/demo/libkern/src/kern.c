#include "kern.h"

/* A loop the compiler auto-vectorizes: SSE2 at the baseline, ymm/zmm with -march=x86-64-v3/v4. */
static void saxpy_once(size_t n, float a, const float *restrict x, float *restrict y) {
    for (size_t i = 0; i < n; i++)
        y[i] = a * x[i] + y[i];
}

double kern_saxpy(size_t n, float a, const float *x, float *y, int reps) {
    for (int r = 0; r < reps; r++)
        saxpy_once(n, a, x, y);
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += y[i];
    return sum;
}

const char *kern_isa(void) {
#if defined(__AVX512F__)
    return "avx512";
#elif defined(__AVX2__)
    return "avx2";
#else
    return "sse2";
#endif
}
