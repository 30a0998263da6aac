// What the CPU can run, checked once (internal to the CKernels target).
#ifndef VQZ_CPU_H
#define VQZ_CPU_H

/// 1 where the CPU has AVX2 (the kernels' vector paths), else 0.
int vqz_cpu_has_avx2(void);

#endif
