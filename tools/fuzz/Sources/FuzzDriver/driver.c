#include "FuzzDriver.h"

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

int vqz_fuzz_main(int argc, char **argv, vqz_fuzz_callback callback) {
    return LLVMFuzzerRunDriver(&argc, &argv, callback);
}
