// libFuzzer's driver, called from each target's entry point (SwiftPM names an executable's entry
// point <Target>_main and aliases main to it, so libFuzzer's own main is not used).
#include <stddef.h>
#include <stdint.h>

typedef int (*vqz_fuzz_callback)(const uint8_t *data, size_t size);
int vqz_fuzz_main(int argc, char **argv, vqz_fuzz_callback callback);
