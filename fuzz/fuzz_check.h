/*
 * fuzz_check: the one assertion every fuzz target uses. Unlike assert()
 * it stays in optimised builds, and it names the failed condition before
 * abort() so libFuzzer keeps the input.
 */
#ifndef TERN_FUZZ_CHECK_H
#define TERN_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(x) do { \
	if (!(x)) { \
		fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #x); \
		abort(); \
	} \
} while (0)

#endif
