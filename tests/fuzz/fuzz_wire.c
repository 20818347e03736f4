// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz_wire.c - libFuzzer harness for the RMAP header decoder.
 *
 * The input is one datagram.  Whatever it holds, rmap_wire_decode() must
 * return a known verdict without reading past the input.  If it accepts
 * the datagram, its length is the header's and the fragment's, or more
 * with the PAD flag and only zeros after the fragment; encoding the
 * decoded header must give back the same 72
 * bytes, and decoding that again must give the same header: the decoder
 * and the encoder agree on every field.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rmap/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rmap_hdr h, again;
	struct rmap_stat st;
	uint8_t *copy;
	enum rmap_wire_err e;

	e = rmap_wire_decode(data, size, &h);
	if ((unsigned)e >= RMAP_WIRE_NERR)
		abort();
	if (!rmap_wire_strerror(e)[0])
		abort();
	if (e != RMAP_WIRE_OK)
		return 0;
	if (size > RMAP_MAX_DATAGRAM)
		abort();
	if (h.flags & RMAP_F_PAD) {
		/* Padded: zeros after the fragment, at least one. */
		if (size <= RMAP_HDR_LEN + (size_t)h.frag_len)
			abort();
		for (size_t i = RMAP_HDR_LEN + h.frag_len; i < size; i++)
			if (data[i])
				abort();
	} else if (size != RMAP_HDR_LEN + (size_t)h.frag_len) {
		abort();
	}
	if (h.type >= RMAP_T_LIMIT || h.status > RMAP_S_MAX)
		abort();
	/* A later release's type: a control message, no page run. */
	if (h.type > RMAP_T_MAX &&
	    (h.flags & RMAP_F_TAGS || h.page || h.count || h.msg_len > 64))
		abort();
	if (h.msg_len > RMAP_MAX_MSG ||
	    (h.type != RMAP_T_ACK && h.frag_idx >= h.frag_cnt))
		abort();

	copy = malloc(size);
	if (!copy)
		return 0;
	rmap_wire_encode(&h, copy);
	if (memcmp(copy, data, RMAP_HDR_LEN))
		abort();
	memcpy(copy + RMAP_HDR_LEN, data + RMAP_HDR_LEN, size - RMAP_HDR_LEN);
	if (rmap_wire_decode(copy, size, &again) != RMAP_WIRE_OK)
		abort();
	/* decode clears the whole struct first, padding included */
	if (memcmp(&h, &again, sizeof(h)))
		abort();

	/* A STAT body, where there is one, round-trips too. */
	if (h.frag_len == RMAP_STAT_LEN &&
	    !rmap_stat_decode(data + RMAP_HDR_LEN, h.frag_len, &st)) {
		uint8_t body[RMAP_STAT_LEN];

		rmap_stat_encode(&st, body);
		if (memcmp(body, data + RMAP_HDR_LEN, RMAP_STAT_LEN))
			abort();
	}
	free(copy);
	return 0;
}
