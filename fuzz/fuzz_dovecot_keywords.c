/*
 * fuzz_dovecot_keywords: dovecot-keywords files. What is read encodes,
 * and the encoding reads back to the same names (parse -> encode ->
 * parse); each name found is found again by itself.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "proto/dovecot_keywords.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dovecot_keywords kw, again;
	struct buf out = BUF_INIT;
	size_t i;
	int first;

	if (dovecot_keywords_parse((const char *)data, size, &kw) == -1)
		return 0;
	for (i = 0; i < DOVECOT_KEYWORDS_MAX; i++) {
		if (kw.names[i] == NULL)
			continue;
		CHECK(kw.names[i][0] != '\0' && strchr(kw.names[i], '\n') == NULL);
		/* the first letter of that name (case folded) */
		first = dovecot_keywords_find(&kw, kw.names[i], strlen(kw.names[i]));
		CHECK(first >= 0 && (size_t)first <= i);
	}
	if (dovecot_keywords_encode(&kw, &out) == 0) {
		CHECK(dovecot_keywords_parse(out.data ? out.data : "", out.len, &again) == 0);
		for (i = 0; i < DOVECOT_KEYWORDS_MAX; i++)
			CHECK((kw.names[i] == NULL && again.names[i] == NULL) ||
			    (kw.names[i] && again.names[i] && strcmp(kw.names[i], again.names[i]) == 0));
		dovecot_keywords_clear(&again);
	} else {
		/* only a name with a CR (kept by the reader, not written) */
		for (first = 0, i = 0; i < DOVECOT_KEYWORDS_MAX; i++)
			first |= kw.names[i] && strchr(kw.names[i], '\r') != NULL;
		CHECK(first);
	}
	buf_release(&out);
	dovecot_keywords_clear(&kw);
	return 0;
}
