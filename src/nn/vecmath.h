// nn/vecmath.h — lets the compiler vectorise loops that call exp / expf: glibc's libmvec has
// vector variants of both (16 or 8 float lanes, 8 or 4 double lanes; the x86-64 vector function
// ABI names them _ZGV?N?v_expf / _ZGV?N?v_exp), but <math.h> declares them only under
// -ffast-math. Declaring them here changes no other floating-point semantics. Include after
// <math.h>, in the kernels that want it; loops use `#pragma omp simd`.
#ifndef RLHF_NN_VECMATH_H
#define RLHF_NN_VECMATH_H

#include <math.h>

#if defined(__x86_64__) && defined(__GLIBC__)
float expf(float) __attribute__((simd("notinbranch")));
double exp(double) __attribute__((simd("notinbranch")));
#endif

#endif
