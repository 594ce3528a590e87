/* pykern: libkern's kernel from Python, plus a loop of its own that shows which flags built it. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include "kern.h"

/* Vectorizable like libkern's: ymm registers appear here only when the variant's -march reached setuptools. */
static void scale(size_t n, float a, float *restrict y) {
    for (size_t i = 0; i < n; i++)
        y[i] = a * y[i] + 1.0f;
}

static PyObject *saxpy(PyObject *self, PyObject *args) {
    Py_ssize_t n;
    int reps = 1;
    if (!PyArg_ParseTuple(args, "n|i", &n, &reps))
        return NULL;
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    if (!x || !y) { free(x); free(y); return PyErr_NoMemory(); }
    for (Py_ssize_t i = 0; i < n; i++) { x[i] = (float)(i % 7); y[i] = 1.0f; }
    double sum;
    Py_BEGIN_ALLOW_THREADS
    scale((size_t)n, 1.0f, y);
    sum = kern_saxpy((size_t)n, 0.5f, x, y, reps);
    Py_END_ALLOW_THREADS
    free(x); free(y);
    return PyFloat_FromDouble(sum);
}

static PyObject *isa(PyObject *self, PyObject *noargs) {
#if defined(__AVX512F__)
    const char *mine = "avx512";
#elif defined(__AVX2__)
    const char *mine = "avx2";
#else
    const char *mine = "sse2";
#endif
    return Py_BuildValue("(ss)", kern_isa(), mine);
}

static PyMethodDef methods[] = {
    {"saxpy", saxpy, METH_VARARGS, "saxpy(n, reps=1) -> sum of y after reps of y = 0.5*x + y"},
    {"isa", isa, METH_NOARGS, "isa() -> (libkern's ISA, this extension's ISA)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "pykern", "libkern from Python (pmpm demo)", -1, methods};

PyMODINIT_FUNC PyInit_pykern(void) { return PyModule_Create(&module); }
