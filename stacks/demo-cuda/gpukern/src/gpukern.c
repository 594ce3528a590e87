#include <stdio.h>
#include "gpukern.h"

#if defined(__AVX512F__)
#define ISA "avx512"
#elif defined(__AVX2__)
#define ISA "avx2"
#else
#define ISA "sse2"
#endif

#ifdef GPUKERN_CUDA
/* saxpy_cuda.cu: 0 when the GPU ran it, else -1 with the reason in `why`. */
int gpukern_saxpy_cuda(size_t n, float a, const float *x, float *y, int reps, char *why, size_t size);
#endif

/* The CPU path: a loop the compiler vectorizes for the build's march. */
static double saxpy_cpu(size_t n, float a, const float *restrict x, float *restrict y, int reps) {
    for (int r = 0; r < reps; r++)
        for (size_t i = 0; i < n; i++)
            y[i] = a * x[i] + y[i];
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += y[i];
    return sum;
}

double gpukern_saxpy(size_t n, float a, const float *x, float *y, int reps, char *ran, size_t size) {
#ifdef GPUKERN_CUDA
    char why[256];
    if (gpukern_saxpy_cuda(n, a, x, y, reps, ran, size) == 0) {
        double sum = 0.0;
        for (size_t i = 0; i < n; i++)
            sum += y[i];
        return sum;
    }
    snprintf(why, sizeof why, "%s", ran);
    snprintf(ran, size, "cpu %s (%s)", ISA, why);
#else
    snprintf(ran, size, "cpu %s (a CPU build)", ISA);
#endif
    return saxpy_cpu(n, a, x, y, reps);
}

const char *gpukern_build(void) {
#ifdef GPUKERN_CUDA
    return "cuda " GPUKERN_CUDA_VERSION " (" GPUKERN_CUDA_ARCH ") + cpu " ISA;
#else
    return "cpu " ISA;
#endif
}
