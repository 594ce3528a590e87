/* kern: run the demo kernel and say where it is installed. */
#include <stdio.h>
#include <stdlib.h>
#include "kern.h"

int main(int argc, char **argv) {
    size_t n = argc > 1 ? (size_t)atol(argv[1]) : 1000;
    int reps = argc > 2 ? atoi(argv[2]) : 1;
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    if (!x || !y) return 1;
    for (size_t i = 0; i < n; i++) { x[i] = (float)(i % 7); y[i] = 1.0f; }
    printf("sum=%.1f isa=%s\n", kern_saxpy(n, 0.5f, x, y, reps), kern_isa());
    printf("prefix=%s\n", KERN_PREFIX);
    char path[4096], line[4200];
    snprintf(path, sizeof path, "%s/share/kern-cli/where.txt", KERN_PREFIX);
    FILE *f = fopen(path, "r");
    if (f && fgets(line, sizeof line, f)) printf("%s", line);
    if (f) fclose(f);
    free(x); free(y);
    return 0;
}
