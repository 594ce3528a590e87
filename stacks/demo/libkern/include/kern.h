/* kern: a small vectorizable numerical kernel, pmpm's demo library. */
#ifndef KERN_H
#define KERN_H
#include <stddef.h>

/* y[i] = a * x[i] + y[i], repeated `reps` times; returns the sum of y. */
double kern_saxpy(size_t n, float a, const float *x, float *y, int reps);
/* The widest vector ISA this build was compiled for: "avx512", "avx2", "sse2". */
const char *kern_isa(void);

#endif
