// SHA-256 block compression with the x86 SHA extensions (SHA-NI), used when the CPU has them
// (the model and prior files are hashed on every decode to find them by id). Returns 0 when the
// CPU lacks them: the caller then uses the portable Swift code (Container/SHA256.swift).
#pragma once
#include <stdint.h>
#include <stddef.h>

/// Compresses `blocks` 64-byte blocks of `data` into `state` (8 words). Returns 1 if done, 0 if
/// this CPU has no SHA extensions (nothing was changed).
int vqz_sha256_blocks(uint32_t state[8], const uint8_t *data, size_t blocks);
