#include <cstdio>
#include <cuda_runtime.h>

__global__ void saxpy(size_t n, float a, const float *x, float *y, int reps) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n) {
        float yi = y[i], xi = x[i];
        for (int r = 0; r < reps; r++)
            yi = a * xi + yi;
        y[i] = yi;
    }
}

static int failed(cudaError_t err, const char *what, char *why, size_t size) {
    if (err == cudaSuccess)
        return 0;
    if (err == cudaErrorNoKernelImageForDevice)  // a GPU older than every architecture of this build
        std::snprintf(why, size, "%s: this GPU is older than the build's code (%s)", what, GPUKERN_CUDA_ARCH);
    else
        std::snprintf(why, size, "%s: %s", what, cudaGetErrorString(err));
    return 1;
}

extern "C" int gpukern_saxpy_cuda(size_t n, float a, const float *x, float *y, int reps, char *why, size_t size) {
    int count = 0;
    if (failed(cudaGetDeviceCount(&count), "no CUDA device", why, size))
        return -1;
    if (count == 0) {
        std::snprintf(why, size, "no CUDA device");
        return -1;
    }
    cudaDeviceProp prop;
    float *dx = nullptr, *dy = nullptr;
    size_t bytes = n * sizeof(float);
    int bad = failed(cudaGetDeviceProperties(&prop, 0), "device properties", why, size) ||
              failed(cudaMalloc(&dx, bytes), "cudaMalloc", why, size) ||
              failed(cudaMalloc(&dy, bytes), "cudaMalloc", why, size) ||
              failed(cudaMemcpy(dx, x, bytes, cudaMemcpyHostToDevice), "copy in", why, size) ||
              failed(cudaMemcpy(dy, y, bytes, cudaMemcpyHostToDevice), "copy in", why, size);
    if (!bad) {
        saxpy<<<(unsigned)((n + 255) / 256), 256>>>(n, a, dx, dy, reps);
        bad = failed(cudaGetLastError(), "kernel launch", why, size) ||
              failed(cudaMemcpy(y, dy, bytes, cudaMemcpyDeviceToHost), "copy out", why, size);
    }
    cudaFree(dx);
    cudaFree(dy);
    if (!bad)
        std::snprintf(why, size, "cuda %s (sm_%d%d)", prop.name, prop.major, prop.minor);
    return bad ? -1 : 0;
}
