// cblas.h from OpenBLAS also declares openblas_get_corename / openblas_set_num_threads,
// used by the benchmarks to report which kernel ran.
#include <cblas.h>
