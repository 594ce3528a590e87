/* gpukern: saxpy on the GPU where this build and the host allow it, else on the CPU (pmpm's CUDA demo). */
#ifndef GPUKERN_H
#define GPUKERN_H
#include <stddef.h>

/* y[i] = a * x[i] + y[i], repeated `reps` times; returns the sum of y. `ran` (of `size` bytes)
   receives where it ran: "cuda ..." or "cpu ..." with the reason the GPU was not used. */
double gpukern_saxpy(size_t n, float a, const float *x, float *y, int reps, char *ran, size_t size);
/* What this build carries: "cuda 13.0 (90) + cpu avx2", or "cpu avx2" for a CPU build. */
const char *gpukern_build(void);

#endif
