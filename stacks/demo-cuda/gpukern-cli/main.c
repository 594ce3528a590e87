/* gpukern: run the demo kernel and say where it ran. */
#include <stdio.h>
#include <stdlib.h>
#include "gpukern.h"

int main(int argc, char **argv) {
    size_t n = argc > 1 ? (size_t)atol(argv[1]) : 1000;
    int reps = argc > 2 ? atoi(argv[2]) : 1;
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    char ran[512];
    if (!x || !y) return 1;
    for (size_t i = 0; i < n; i++) { x[i] = (float)(i % 7); y[i] = 1.0f; }
    double sum = gpukern_saxpy(n, 0.5f, x, y, reps, ran, sizeof ran);
    printf("sum=%.1f\nran=%s\nbuild=%s\n", sum, ran, gpukern_build());
    free(x); free(y);
    return 0;
}
