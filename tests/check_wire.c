// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * check_wire.c - the RMAP wire header: encode/decode round trips for every
 * message type, every reason the decoder refuses a datagram, the STAT body,
 * and serial-number arithmetic.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "rmap/wire.h"
#include "tests/check_util.h"

#define FP1500	1368u	/* rmap_frag_payload(1500) */
#ifndef RMAP_MAX_WINDOW
#define RMAP_MAX_WINDOW	RMAP_MAX_FRAGS	/* the sender's window limit */
#endif

static uint8_t pkt[RMAP_MAX_DATAGRAM + 16];

/* Does a message of @type carry count pages (as an OK reply if @resp)? */
static bool carries_pages(unsigned type, bool resp)
{
	if (!resp)
		return type == RMAP_T_WRITE || type == RMAP_T_XWRITE ||
		       type == RMAP_T_PXOR;
	return type == RMAP_T_READ || type == RMAP_T_READZ ||
	       type == RMAP_T_XWRITE || type == RMAP_T_XFREE;
}

/* A valid single-fragment (or first-fragment) header of @type. */
static struct rmap_hdr valid_hdr(unsigned type, bool resp)
{
	struct rmap_hdr h = { 0 };
	uint32_t len = 0;

	h.type = (uint8_t)type;
	h.flags = RMAP_F_RELIABLE | RMAP_F_ACK | (resp ? RMAP_F_RESPONSE : 0);
	h.epoch = 0xdeadbeef;
	h.session = 0x01020304;
	h.seq = 1000;
	h.base = 990;
	h.ack = 77;
	h.sack = 0x8000000000000005ull;
	h.reqid = 0xabcdef01;
	h.frag_cnt = 1;
	switch (type) {
	case RMAP_T_ACK:
		memset(&h, 0, sizeof(h));
		h.flags = RMAP_F_ACK;
		h.epoch = 5;
		h.ack = 123456;
		h.sack = 0xf0f0;
		return h;
	case RMAP_T_REG:
		len = resp ? RMAP_SESSION_INFO_LEN : RMAP_REG_LEN;
		break;
	case RMAP_T_ATTACH:
		h.session = 0x1234;
		len = resp ? RMAP_SESSION_INFO_LEN : RMAP_ATTACH_LEN;
		break;
	case RMAP_T_MOVE:
		h.session = 0x1234;
		len = resp ? 0 : RMAP_MOVE_LEN;
		break;
	case RMAP_T_READ:
	case RMAP_T_WRITE:
	case RMAP_T_XWRITE:
	case RMAP_T_XFREE:
	case RMAP_T_PXOR:
	case RMAP_T_READZ:
		h.page = 0x123456789ull;
		h.count = 3;
		if (carries_pages(type, resp))
			len = 3 * RMAP_PAGE_SIZE;
		break;
	case RMAP_T_FREE:
		h.page = 42;
		h.count = 1000000;
		break;
	case RMAP_T_STAT:
	case RMAP_T_LEAVE:
		len = resp ? RMAP_STAT_LEN : 0;
		break;
	case RMAP_T_ANNOUNCE:
		h.flags = 0;
		h.seq = 0;
		h.base = 0;
		h.ack = 0;
		h.sack = 0;
		h.reqid = 0;
		h.session = 0;
		len = RMAP_STAT_LEN;
		break;
	default:
		break;
	}
	h.msg_len = len;
	if (len > FP1500) {
		h.frag_cnt = (uint16_t)((len + FP1500 - 1) / FP1500);
		h.frag_len = (uint16_t)FP1500;
	} else {
		h.frag_len = (uint16_t)len;
	}
	return h;
}

/* Encode @h with frag_len bytes of payload and decode it back. */
static enum rmap_wire_err roundtrip(const struct rmap_hdr *h,
				    struct rmap_hdr *out)
{
	struct rmap_hdr tmp;

	memset(pkt, 0xa5, sizeof(pkt));
	rmap_wire_encode(h, pkt);
	return rmap_wire_decode(pkt, RMAP_HDR_LEN + h->frag_len,
				out ? out : &tmp);
}

static void assert_hdr_equal(const struct rmap_hdr *a, const struct rmap_hdr *b)
{
	ck_assert_uint_eq(a->type, b->type);
	ck_assert_uint_eq(a->status, b->status);
	ck_assert_uint_eq(a->flags, b->flags);
	ck_assert_uint_eq(a->epoch, b->epoch);
	ck_assert_uint_eq(a->session, b->session);
	ck_assert_uint_eq(a->seq, b->seq);
	ck_assert_uint_eq(a->base, b->base);
	ck_assert_uint_eq(a->ack, b->ack);
	ck_assert_uint_eq(a->sack, b->sack);
	ck_assert_uint_eq(a->reqid, b->reqid);
	ck_assert_uint_eq(a->frag_idx, b->frag_idx);
	ck_assert_uint_eq(a->frag_cnt, b->frag_cnt);
	ck_assert_uint_eq(a->msg_len, b->msg_len);
	ck_assert_uint_eq(a->frag_off, b->frag_off);
	ck_assert_uint_eq(a->page, b->page);
	ck_assert_uint_eq(a->count, b->count);
	ck_assert_uint_eq(a->frag_len, b->frag_len);
}

#define ASSERT_REJECT(h, want) do {					\
	enum rmap_wire_err e_ = roundtrip(&(h), NULL);			\
	ck_assert_msg(e_ == (want), "%s:%d: got %s (%d), want %s (%d)",	\
		      __FILE__, __LINE__, rmap_wire_strerror(e_), e_,	\
		      rmap_wire_strerror(want), (want));		\
} while (0)

/* ---- round trips ---- */

START_TEST(test_roundtrip_every_type)
{
	for (unsigned t = 0; t <= RMAP_T_MAX; t++) {
		for (int resp = 0; resp < 2; resp++) {
			struct rmap_hdr h, d;

			if ((t == RMAP_T_ACK || t == RMAP_T_ANNOUNCE) && resp)
				continue;
			h = valid_hdr(t, resp);
			ck_assert_msg(roundtrip(&h, &d) == RMAP_WIRE_OK,
				      "type %s resp %d: %s", rmap_type_name(t),
				      resp, rmap_wire_strerror(roundtrip(&h, NULL)));
			assert_hdr_equal(&h, &d);
		}
	}
}
END_TEST

START_TEST(test_roundtrip_byte_layout)
{
	struct rmap_hdr h = valid_hdr(RMAP_T_WRITE, false);

	rmap_wire_encode(&h, pkt);
	/* Network byte order, at the offsets rmap(7) documents. */
	ck_assert_uint_eq(pkt[0], 0x4d);
	ck_assert_uint_eq(pkt[1], 0x58);
	ck_assert_uint_eq(pkt[2], RMAP_VERSION);
	ck_assert_uint_eq(pkt[3], RMAP_T_WRITE);
	ck_assert_uint_eq(pkt[8], 0xde);
	ck_assert_uint_eq(pkt[11], 0xef);
	ck_assert_uint_eq(pkt[12], 0x01);
	ck_assert_uint_eq(pkt[15], 0x04);
	ck_assert_uint_eq(pkt[32], 0x80);
	ck_assert_uint_eq(pkt[39], 0x05);
	ck_assert_uint_eq(pkt[59], 0x01);
	ck_assert_uint_eq(pkt[63], 0x89);
	ck_assert_uint_eq(pkt[67], 3);
}
END_TEST

START_TEST(test_roundtrip_responses_with_status)
{
	static const unsigned types[] = {
		RMAP_T_REG, RMAP_T_UNREG, RMAP_T_READ, RMAP_T_WRITE,
		RMAP_T_FREE, RMAP_T_STAT, RMAP_T_HEARTBEAT, RMAP_T_XWRITE,
		RMAP_T_XFREE, RMAP_T_PXOR, RMAP_T_READZ, RMAP_T_LEAVE,
		RMAP_T_ATTACH, RMAP_T_MOVE,
	};

	for (unsigned i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		for (unsigned s = 1; s <= RMAP_S_MAX; s++) {
			struct rmap_hdr h = valid_hdr(types[i], true), d;

			/* A failed answer carries no body. */
			h.status = (uint8_t)s;
			h.msg_len = 0;
			h.frag_len = 0;
			h.frag_cnt = 1;
			ck_assert_msg(roundtrip(&h, &d) == RMAP_WIRE_OK,
				      "%s status %u refused: %s",
				      rmap_type_name(types[i]), s,
				      rmap_wire_strerror(roundtrip(&h, NULL)));
			assert_hdr_equal(&h, &d);
		}
	}
}
END_TEST

START_TEST(test_roundtrip_fragments)
{
	/* Every fragment of a 256-page WRITE, with tags, at MTU 1500. */
	struct rmap_hdr h = valid_hdr(RMAP_T_WRITE, false), d;
	uint32_t len = RMAP_MAX_MSG, n = (len + FP1500 - 1) / FP1500;

	h.flags |= RMAP_F_TAGS;
	h.count = RMAP_MAX_PAGES;
	h.page = 0;
	h.msg_len = len;
	h.frag_cnt = (uint16_t)n;
	for (uint32_t i = 0; i < n; i++) {
		h.frag_idx = (uint16_t)i;
		h.frag_off = i * FP1500;
		h.frag_len = (uint16_t)(len - h.frag_off < FP1500 ?
					len - h.frag_off : FP1500);
		h.seq = h.base + i;
		ck_assert_int_eq(roundtrip(&h, &d), RMAP_WIRE_OK);
		assert_hdr_equal(&h, &d);
	}
}
END_TEST

START_TEST(test_roundtrip_max_datagram)
{
	/* One page in one jumbo datagram; the largest datagram accepted. */
	struct rmap_hdr h = valid_hdr(RMAP_T_WRITE, false);

	h.count = 2;
	h.msg_len = 2 * RMAP_PAGE_SIZE;
	h.frag_cnt = 1;
	h.frag_len = (uint16_t)h.msg_len;
	ck_assert_int_eq(roundtrip(&h, NULL), RMAP_WIRE_OK);
	ck_assert_uint_le(RMAP_HDR_LEN + 2 * RMAP_PAGE_SIZE, RMAP_MAX_DATAGRAM);
}
END_TEST

/* ---- rejections, one reason at a time ---- */

START_TEST(test_reject_short)
{
	struct rmap_hdr h = valid_hdr(RMAP_T_HEARTBEAT, false), d;

	rmap_wire_encode(&h, pkt);
	ck_assert_int_eq(rmap_wire_decode(pkt, 0, &d), RMAP_WIRE_SHORT);
	ck_assert_int_eq(rmap_wire_decode(pkt, 1, &d), RMAP_WIRE_SHORT);
	ck_assert_int_eq(rmap_wire_decode(pkt, RMAP_HDR_LEN - 1, &d),
			 RMAP_WIRE_SHORT);
	ck_assert_int_eq(rmap_wire_decode(pkt, RMAP_HDR_LEN, &d), RMAP_WIRE_OK);
}
END_TEST

START_TEST(test_reject_magic)
{
	struct rmap_hdr h = valid_hdr(RMAP_T_HEARTBEAT, false), d;

	rmap_wire_encode(&h, pkt);
	pkt[0] ^= 0x01;
	ck_assert_int_eq(rmap_wire_decode(pkt, RMAP_HDR_LEN, &d), RMAP_WIRE_MAGIC);
	pkt[0] ^= 0x01;
	pkt[1] = 0;
	ck_assert_int_eq(rmap_wire_decode(pkt, RMAP_HDR_LEN, &d), RMAP_WIRE_MAGIC);
}
END_TEST

START_TEST(test_reject_version)
{
	static const uint8_t bad[] = { 0, 1, 3, 0x81, 0xff };
	struct rmap_hdr h = valid_hdr(RMAP_T_HEARTBEAT, false), d;

	for (unsigned i = 0; i < sizeof(bad); i++) {
		rmap_wire_encode(&h, pkt);
		pkt[2] = bad[i];
		ck_assert_int_eq(rmap_wire_decode(pkt, RMAP_HDR_LEN, &d),
				 RMAP_WIRE_VERSION);
	}
}
END_TEST

START_TEST(test_reject_type)
{
	struct rmap_hdr h = valid_hdr(RMAP_T_HEARTBEAT, false);

	h.type = RMAP_T_LIMIT;
	ASSERT_REJECT(h, RMAP_WIRE_TYPE);
	h.type = 0xff;
	ASSERT_REJECT(h, RMAP_WIRE_TYPE);
	/* A later release's type is shaped as a control message. */
	h = valid_hdr(RMAP_T_HEARTBEAT, false);
	h.type = RMAP_T_MAX + 1;
	h.page = 1;
	h.count = 1;
	ASSERT_REJECT(h, RMAP_WIRE_PAGES);
}
END_TEST

/*
 * A request of a later release decodes, so its receiver can answer it;
 * and so does the answer, for the newer requester.
 */
START_TEST(test_later_type_is_a_request)
{
	struct rmap_hdr h, d;
	uint8_t buf[RMAP_HDR_LEN];

	for (int resp = 0; resp < 2; resp++) {
		for (unsigned t = RMAP_T_MAX + 1; t < RMAP_T_LIMIT; t++) {
			h = valid_hdr(RMAP_T_HEARTBEAT, resp);
			h.type = (uint8_t)t;
			if (resp)
				h.status = RMAP_S_UNSUPP;
			rmap_wire_encode(&h, buf);
			ck_assert_int_eq(rmap_wire_decode(buf, sizeof(buf), &d),
					 RMAP_WIRE_OK);
			ck_assert_uint_eq(d.type, t);
			ck_assert_str_eq(rmap_type_name(d.type), "?");
		}
	}
}
END_TEST

/* The payload length of @h, fragmented as valid_hdr does. */
static void set_len(struct rmap_hdr *h, uint32_t len)
{
	h->msg_len = len;
	h->frag_cnt = (uint16_t)(len > FP1500 ? (len + FP1500 - 1) / FP1500
					      : 1);
	h->frag_len = (uint16_t)(len > FP1500 ? FP1500 : len);
}

/*
 * RMAP_F_TAGS: a page run that carries pages carries their tags after
 * them, and only page runs may have it.
 */
START_TEST(test_tags)
{
	static const unsigned types[] = {
		RMAP_T_READ, RMAP_T_WRITE, RMAP_T_XWRITE, RMAP_T_XFREE,
		RMAP_T_PXOR, RMAP_T_READZ,
	};
	struct rmap_hdr h, d;

	for (unsigned i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		for (int resp = 0; resp < 2; resp++) {
			h = valid_hdr(types[i], resp);
			h.flags |= RMAP_F_TAGS;
			if (carries_pages(types[i], resp)) {
				/* The pages without their tags: refused. */
				ASSERT_REJECT(h, RMAP_WIRE_PAGES);
				set_len(&h, 3 * (RMAP_PAGE_SIZE +
						 RMAP_TAG_LEN));
			}
			ck_assert_msg(roundtrip(&h, &d) == RMAP_WIRE_OK,
				      "%s resp %d: %s", rmap_type_name(types[i]),
				      resp, rmap_wire_strerror(roundtrip(&h,
								  NULL)));
			ck_assert_uint_eq(d.flags & RMAP_F_TAGS, RMAP_F_TAGS);
			/* Tags but no pages: refused too. */
			if (carries_pages(types[i], resp)) {
				set_len(&h, 3 * RMAP_TAG_LEN);
				ASSERT_REJECT(h, RMAP_WIRE_PAGES);
			}
		}
	}
	/* A whole message of 256 pages and their tags fits. */
	h = valid_hdr(RMAP_T_WRITE, false);
	h.flags |= RMAP_F_TAGS;
	h.count = RMAP_MAX_PAGES;
	set_len(&h, RMAP_MAX_MSG);
	ck_assert_int_eq(roundtrip(&h, NULL), RMAP_WIRE_OK);
	/* Nothing else may carry tags. */
	h = valid_hdr(RMAP_T_FREE, false);
	h.flags |= RMAP_F_TAGS;
	ASSERT_REJECT(h, RMAP_WIRE_PAGES);
	h = valid_hdr(RMAP_T_HEARTBEAT, false);
	h.flags |= RMAP_F_TAGS;
	ASSERT_REJECT(h, RMAP_WIRE_PAGES);
	h = valid_hdr(RMAP_T_STAT, true);
	h.flags |= RMAP_F_TAGS;
	ASSERT_REJECT(h, RMAP_WIRE_PAGES);
}
END_TEST

/*
 * A padded fragment (RMAP_F_PAD): zeros after it up to the datagram's
 * end, and at least one of them.  The header says how long the fragment
 * is; anything but zeros after it, or the flag with nothing after it,
 * is a length error.
 */
START_TEST(test_padding)
{
	struct rmap_hdr h = valid_hdr(RMAP_T_WRITE, false), out;
	size_t len = RMAP_HDR_LEN + h.frag_len;

	h.flags |= RMAP_F_PAD;
	memset(pkt, 0, sizeof(pkt));
	rmap_wire_encode(&h, pkt);
	ck_assert_uint_le(len + 88, sizeof(pkt));
	memset(pkt + len, 0, 88);
	ck_assert_int_eq(rmap_wire_decode(pkt, len + 88, &out), RMAP_WIRE_OK);
	assert_hdr_equal(&h, &out);
	ck_assert_int_eq(rmap_wire_decode(pkt, len + 1, &out), RMAP_WIRE_OK);
	/* The flag and no padding. */
	ck_assert_int_eq(rmap_wire_decode(pkt, len, &out), RMAP_WIRE_LENGTH);
	/* Padding that is not zeros. */
	pkt[len + 87] = 1;
	ck_assert_int_eq(rmap_wire_decode(pkt, len + 88, &out),
			 RMAP_WIRE_LENGTH);
	pkt[len + 87] = 0;
	/* Padding without the flag. */
	h.flags &= (uint16_t)~RMAP_F_PAD;
	rmap_wire_encode(&h, pkt);
	ck_assert_int_eq(rmap_wire_decode(pkt, len + 88, &out),
			 RMAP_WIRE_LENGTH);
}
END_TEST

START_TEST(test_reject_flags)
{
	struct rmap_hdr h;

	/*
	 * Unknown flag bits (0x0008 was v1's reserved AUTH; 0x0010 is
	 * RMAP_F_TAGS, refused on a heartbeat as a page-run error above).
	 */
	for (unsigned bit = 3; bit < 16; bit++) {
		if (1u << bit == RMAP_F_TAGS || 1u << bit == RMAP_F_PAD)
			continue;
		h = valid_hdr(RMAP_T_HEARTBEAT, false);
		h.flags |= (uint16_t)(1u << bit);
		ASSERT_REJECT(h, RMAP_WIRE_FLAGS);
	}
	h = valid_hdr(RMAP_T_ACK, false);
	h.flags |= 0x0008;
	ASSERT_REJECT(h, RMAP_WIRE_FLAGS);

	/* A bare ACK carries nothing but the acknowledgement. */
	h = valid_hdr(RMAP_T_ACK, false);
	h.flags = 0;
	ASSERT_REJECT(h, RMAP_WIRE_FLAGS);
	h = valid_hdr(RMAP_T_ACK, false);
	h.flags |= RMAP_F_RELIABLE;
	ASSERT_REJECT(h, RMAP_WIRE_FLAGS);
	h = valid_hdr(RMAP_T_ACK, false);
	h.seq = 1;
	ASSERT_REJECT(h, RMAP_WIRE_FLAGS);
	h = valid_hdr(RMAP_T_ACK, false);
	h.session = 1;
	ASSERT_REJECT(h, RMAP_WIRE_FLAGS);
	h = valid_hdr(RMAP_T_ACK, false);
	h.reqid = 1;
	ASSERT_REJECT(h, RMAP_WIRE_FLAGS);
	h = valid_hdr(RMAP_T_ACK, false);
	h.frag_cnt = 1;
	ASSERT_REJECT(h, RMAP_WIRE_FLAGS);
	h = valid_hdr(RMAP_T_ACK, false);
	h.frag_len = 4;
	ASSERT_REJECT(h, RMAP_WIRE_FLAGS);

	/* Everything but ANNOUNCE must be reliable... */
	for (unsigned t = RMAP_T_REG; t <= RMAP_T_MAX; t++) {
		if (t == RMAP_T_ANNOUNCE)
			continue;
		h = valid_hdr(t, false);
		h.flags &= (uint16_t)~RMAP_F_RELIABLE;
		h.seq = h.base = 0;
		ASSERT_REJECT(h, RMAP_WIRE_FLAGS);
	}
	/* ...and ANNOUNCE is neither reliable nor a response. */
	h = valid_hdr(RMAP_T_ANNOUNCE, false);
	h.flags |= RMAP_F_RELIABLE;
	ASSERT_REJECT(h, RMAP_WIRE_FLAGS);
	h = valid_hdr(RMAP_T_ANNOUNCE, false);
	h.flags |= RMAP_F_RESPONSE;
	ASSERT_REJECT(h, RMAP_WIRE_FLAGS);
	h = valid_hdr(RMAP_T_ANNOUNCE, false);
	h.seq = 3;
	ASSERT_REJECT(h, RMAP_WIRE_FLAGS);
	h = valid_hdr(RMAP_T_ANNOUNCE, false);
	h.base = 3;
	ASSERT_REJECT(h, RMAP_WIRE_FLAGS);

	/* A reliable seq must lie in the sender's window [base, base+1024). */
	h = valid_hdr(RMAP_T_HEARTBEAT, false);
	h.base = 100;
	h.seq = 100 + RMAP_MAX_WINDOW;
	ASSERT_REJECT(h, RMAP_WIRE_FLAGS);
	h.seq = 99;
	ASSERT_REJECT(h, RMAP_WIRE_FLAGS);
	h.seq = 100 + RMAP_MAX_WINDOW - 1;
	ASSERT_REJECT(h, RMAP_WIRE_OK);
	/* ...with serial arithmetic across the wrap. */
	h.base = 0xfffffff0u;
	h.seq = 5;
	ASSERT_REJECT(h, RMAP_WIRE_OK);
}
END_TEST

START_TEST(test_reject_status)
{
	struct rmap_hdr h = valid_hdr(RMAP_T_HEARTBEAT, true);

	h.status = RMAP_S_MAX + 1;
	ASSERT_REJECT(h, RMAP_WIRE_STATUS);
	h.status = 0xff;
	ASSERT_REJECT(h, RMAP_WIRE_STATUS);
	/* Only a response has a status. */
	h = valid_hdr(RMAP_T_HEARTBEAT, false);
	h.status = RMAP_S_FULL;
	ASSERT_REJECT(h, RMAP_WIRE_STATUS);
	h = valid_hdr(RMAP_T_ANNOUNCE, false);
	h.status = RMAP_S_NOENT;
	ASSERT_REJECT(h, RMAP_WIRE_STATUS);
}
END_TEST

START_TEST(test_reject_length)
{
	struct rmap_hdr h = valid_hdr(RMAP_T_REG, false), d;

	rmap_wire_encode(&h, pkt);
	/* frag_len says 24; the datagram is one byte short, or long. */
	ck_assert_int_eq(rmap_wire_decode(pkt, RMAP_HDR_LEN + RMAP_REG_LEN - 1,
					  &d), RMAP_WIRE_LENGTH);
	ck_assert_int_eq(rmap_wire_decode(pkt, RMAP_HDR_LEN + RMAP_REG_LEN + 1,
					  &d), RMAP_WIRE_LENGTH);
	ck_assert_int_eq(rmap_wire_decode(pkt, RMAP_HDR_LEN, &d),
			 RMAP_WIRE_LENGTH);
	ck_assert_int_eq(rmap_wire_decode(pkt, RMAP_HDR_LEN + RMAP_REG_LEN, &d),
			 RMAP_WIRE_OK);
	/* Longer than any MTU allows. */
	ck_assert_int_eq(rmap_wire_decode(pkt, RMAP_MAX_INNER + 1, &d),
			 RMAP_WIRE_LENGTH);
}
END_TEST

START_TEST(test_reject_frag)
{
	struct rmap_hdr h, base = valid_hdr(RMAP_T_WRITE, false);

	/* base: fragment 0 of 9 of a 3-page WRITE. */
	ck_assert_uint_eq(base.frag_cnt, 9);
	ASSERT_REJECT(base, RMAP_WIRE_OK);

	h = base;
	h.frag_cnt = 0;
	ASSERT_REJECT(h, RMAP_WIRE_FRAG);
	h = base;
	h.frag_cnt = RMAP_MAX_FRAGS + 1;
	ASSERT_REJECT(h, RMAP_WIRE_FRAG);
	h = base;
	h.frag_idx = 9;
	ASSERT_REJECT(h, RMAP_WIRE_FRAG);
	h = base;
	h.frag_idx = 0xffff;
	ASSERT_REJECT(h, RMAP_WIRE_FRAG);
	/* Fragment runs past the end of the message. */
	h = base;
	h.frag_idx = 4;
	h.frag_off = h.msg_len - 10;
	ASSERT_REJECT(h, RMAP_WIRE_FRAG);
	h.frag_off = 0xffffffffu;
	ASSERT_REJECT(h, RMAP_WIRE_FRAG);
	/* The first fragment starts at 0. */
	h = base;
	h.frag_off = 1;
	ASSERT_REJECT(h, RMAP_WIRE_FRAG);
	/* The last fragment ends the message. */
	h = base;
	h.frag_idx = 8;
	h.frag_off = 8 * FP1500;
	h.frag_len = (uint16_t)(h.msg_len - h.frag_off - 1);
	ASSERT_REJECT(h, RMAP_WIRE_FRAG);
	h.frag_len++;
	ASSERT_REJECT(h, RMAP_WIRE_OK);
	/* A middle fragment must carry bytes. */
	h = base;
	h.frag_idx = 3;
	h.frag_off = 3 * FP1500;
	h.frag_len = 0;
	ASSERT_REJECT(h, RMAP_WIRE_FRAG);
	/* An empty message is one empty fragment, not two. */
	h = valid_hdr(RMAP_T_HEARTBEAT, false);
	h.frag_cnt = 2;
	h.frag_idx = 1;
	ASSERT_REJECT(h, RMAP_WIRE_FRAG);
	/* Fragments tile the message at one stride: no holes, no overlap. */
	h = base;
	h.frag_idx = 2;
	h.frag_off = 2 * FP1500 + 1;
	ASSERT_REJECT(h, RMAP_WIRE_FRAG);
	h.frag_off = 2 * FP1500;
	ASSERT_REJECT(h, RMAP_WIRE_OK);
	h = base;
	h.frag_idx = 8;
	h.frag_off = 8 * FP1500 + 1;
	h.frag_len = (uint16_t)(h.msg_len - h.frag_off);
	ASSERT_REJECT(h, RMAP_WIRE_FRAG);
	h = valid_hdr(RMAP_T_WRITE, false);
	h.count = 1;
	h.msg_len = RMAP_PAGE_SIZE;
	h.frag_cnt = 2;
	h.frag_idx = 1;
	h.frag_off = 1000;		/* the last piece outgrows the stride */
	h.frag_len = RMAP_PAGE_SIZE - 1000;
	ASSERT_REJECT(h, RMAP_WIRE_FRAG);
	h.frag_off = 2048;
	h.frag_len = 2048;
	ASSERT_REJECT(h, RMAP_WIRE_OK);
	/* More fragments than bytes. */
	h = valid_hdr(RMAP_T_REG, false);
	h.frag_cnt = RMAP_REG_LEN + 1;
	h.frag_idx = 0;
	h.frag_len = 1;
	ASSERT_REJECT(h, RMAP_WIRE_FRAG);
	/* Unreliable messages cannot be fragmented. */
	h = valid_hdr(RMAP_T_ANNOUNCE, false);
	h.frag_cnt = 2;
	h.frag_len = 10;
	ASSERT_REJECT(h, RMAP_WIRE_FRAG);
}
END_TEST

START_TEST(test_reject_oversize)
{
	struct rmap_hdr h = valid_hdr(RMAP_T_WRITE, false);

	h.msg_len = RMAP_MAX_MSG + 1;
	ASSERT_REJECT(h, RMAP_WIRE_OVERSIZE);
	h.msg_len = 0xffffffffu;
	ASSERT_REJECT(h, RMAP_WIRE_OVERSIZE);
	h = valid_hdr(RMAP_T_HEARTBEAT, false);
	h.msg_len = RMAP_MAX_MSG + 4096;
	ASSERT_REJECT(h, RMAP_WIRE_OVERSIZE);
}
END_TEST

START_TEST(test_reject_reserved)
{
	static const unsigned offs[] = { 7, 28, 29, 30, 31, 70, 71 };
	struct rmap_hdr h = valid_hdr(RMAP_T_HEARTBEAT, false), d;

	for (unsigned i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		rmap_wire_encode(&h, pkt);
		pkt[offs[i]] = 0x40;
		ck_assert_msg(rmap_wire_decode(pkt, RMAP_HDR_LEN, &d) ==
			      RMAP_WIRE_RESERVED, "byte %u", offs[i]);
	}
}
END_TEST

START_TEST(test_reject_pages_read_write)
{
	static const unsigned types[] = { RMAP_T_READ, RMAP_T_WRITE };

	for (unsigned i = 0; i < 2; i++) {
		unsigned t = types[i];
		struct rmap_hdr h;

		for (int resp = 0; resp < 2; resp++) {
			bool data = (t == RMAP_T_WRITE) != resp;

			h = valid_hdr(t, resp);
			h.count = 0;
			h.msg_len = 0;
			h.frag_len = 0;
			h.frag_cnt = 1;
			ASSERT_REJECT(h, RMAP_WIRE_PAGES);
			h = valid_hdr(t, resp);
			h.count = RMAP_MAX_PAGES + 1;
			ASSERT_REJECT(h, RMAP_WIRE_PAGES);
			/* The run wraps around the page space. */
			h = valid_hdr(t, resp);
			h.page = UINT64_MAX - 1;
			ASSERT_REJECT(h, RMAP_WIRE_PAGES);
			/* The body must be exactly the run, or empty. */
			h = valid_hdr(t, resp);
			if (data) {
				h.count = 4;	/* msg_len says 3 pages */
			} else {
				h.msg_len = RMAP_PAGE_SIZE;
				h.frag_len = (uint16_t)FP1500;
				h.frag_cnt = 3;
			}
			ASSERT_REJECT(h, RMAP_WIRE_PAGES);
		}
		/* A failed answer carries no pages. */
		h = valid_hdr(t, true);
		h.status = RMAP_S_NOENT;
		h.msg_len = 3 * RMAP_PAGE_SIZE;
		h.frag_cnt = 9;
		h.frag_len = (uint16_t)FP1500;
		ASSERT_REJECT(h, RMAP_WIRE_PAGES);
	}
}
END_TEST

/* The page-group types: runs of 1..256 pages, pages where they belong. */
START_TEST(test_reject_pages_parity)
{
	static const unsigned types[] = {
		RMAP_T_XWRITE, RMAP_T_XFREE, RMAP_T_PXOR, RMAP_T_READZ,
	};

	for (unsigned i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		unsigned t = types[i];
		struct rmap_hdr h;

		for (int resp = 0; resp < 2; resp++) {
			h = valid_hdr(t, resp);
			ASSERT_REJECT(h, RMAP_WIRE_OK);
			h.count = RMAP_MAX_PAGES + 1;
			ASSERT_REJECT(h, RMAP_WIRE_PAGES);
			h = valid_hdr(t, resp);
			h.page = UINT64_MAX - 1;
			ASSERT_REJECT(h, RMAP_WIRE_PAGES);
			/* Pages where none belong, none where they do. */
			h = valid_hdr(t, resp);
			if (carries_pages(t, resp)) {
				h.count = 4;	/* msg_len says 3 pages */
				ASSERT_REJECT(h, RMAP_WIRE_PAGES);
				h = valid_hdr(t, resp);
				h.msg_len = h.frag_len = 0;
				h.frag_cnt = 1;
			} else {
				h.msg_len = 3 * RMAP_PAGE_SIZE;
				h.frag_len = (uint16_t)FP1500;
				h.frag_cnt = 9;
			}
			ASSERT_REJECT(h, RMAP_WIRE_PAGES);
			/* No run at all. */
			h = valid_hdr(t, resp);
			h.count = 0;
			h.msg_len = h.frag_len = 0;
			h.frag_cnt = 1;
			ASSERT_REJECT(h, RMAP_WIRE_PAGES);
		}
		/* A failed answer carries no pages. */
		h = valid_hdr(t, true);
		h.status = RMAP_S_FULL;
		h.msg_len = 3 * RMAP_PAGE_SIZE;
		h.frag_cnt = 9;
		h.frag_len = (uint16_t)FP1500;
		ASSERT_REJECT(h, RMAP_WIRE_PAGES);
		h.msg_len = h.frag_len = 0;
		h.frag_cnt = 1;
		ASSERT_REJECT(h, RMAP_WIRE_OK);
	}
	/* Who carries what, spelled out. */
	ck_assert(carries_pages(RMAP_T_XWRITE, false));
	ck_assert(carries_pages(RMAP_T_XWRITE, true));
	ck_assert(!carries_pages(RMAP_T_XFREE, false));
	ck_assert(carries_pages(RMAP_T_XFREE, true));
	ck_assert(carries_pages(RMAP_T_PXOR, false));
	ck_assert(!carries_pages(RMAP_T_PXOR, true));
	ck_assert(!carries_pages(RMAP_T_READZ, false));
	ck_assert(carries_pages(RMAP_T_READZ, true));

	/* LEAVE: no run, no request body; answered with a STAT body. */
	{
		struct rmap_hdr h = valid_hdr(RMAP_T_LEAVE, false);

		ASSERT_REJECT(h, RMAP_WIRE_OK);
		h.msg_len = h.frag_len = 8;
		ASSERT_REJECT(h, RMAP_WIRE_PAGES);
		h = valid_hdr(RMAP_T_LEAVE, false);
		h.page = 1;
		ASSERT_REJECT(h, RMAP_WIRE_PAGES);
		h = valid_hdr(RMAP_T_LEAVE, true);
		ASSERT_REJECT(h, RMAP_WIRE_OK);
		h.msg_len = h.frag_len = 0;
		ASSERT_REJECT(h, RMAP_WIRE_PAGES);
		h.status = RMAP_S_UNSUPP;
		ASSERT_REJECT(h, RMAP_WIRE_OK);
		/* The new status is a valid answer (to REG). */
		h = valid_hdr(RMAP_T_REG, true);
		h.status = RMAP_S_LEAVING;
		h.msg_len = h.frag_len = 0;
		ASSERT_REJECT(h, RMAP_WIRE_OK);
	}
}
END_TEST

START_TEST(test_reject_pages_free)
{
	struct rmap_hdr h;

	for (int resp = 0; resp < 2; resp++) {
		h = valid_hdr(RMAP_T_FREE, resp);
		h.count = 0;
		ASSERT_REJECT(h, RMAP_WIRE_PAGES);
		h = valid_hdr(RMAP_T_FREE, resp);
		h.page = UINT64_MAX - 10;
		ASSERT_REJECT(h, RMAP_WIRE_PAGES);
		h = valid_hdr(RMAP_T_FREE, resp);
		h.msg_len = 8;
		h.frag_len = 8;
		ASSERT_REJECT(h, RMAP_WIRE_PAGES);
	}
	/* FREE is not limited to RMAP_MAX_PAGES: it discards ranges. */
	h = valid_hdr(RMAP_T_FREE, false);
	h.count = 0xffffffffu;
	h.page = 0;
	ASSERT_REJECT(h, RMAP_WIRE_OK);
}
END_TEST

START_TEST(test_reject_pages_reg_stat_announce)
{
	struct rmap_hdr h;

	h = valid_hdr(RMAP_T_REG, false);
	h.msg_len = h.frag_len = RMAP_REG_LEN - 1;
	ASSERT_REJECT(h, RMAP_WIRE_PAGES);
	h.msg_len = h.frag_len = 0;
	ASSERT_REJECT(h, RMAP_WIRE_PAGES);
	h = valid_hdr(RMAP_T_REG, false);
	h.page = 1;
	ASSERT_REJECT(h, RMAP_WIRE_PAGES);
	/* ATTACH carries exactly a secret; its OK answer, the session info. */
	h = valid_hdr(RMAP_T_ATTACH, false);
	ASSERT_REJECT(h, RMAP_WIRE_OK);
	h.msg_len = h.frag_len = RMAP_ATTACH_LEN + 1;
	ASSERT_REJECT(h, RMAP_WIRE_PAGES);
	h = valid_hdr(RMAP_T_ATTACH, true);
	ASSERT_REJECT(h, RMAP_WIRE_OK);
	h.msg_len = h.frag_len = 4;
	ASSERT_REJECT(h, RMAP_WIRE_PAGES);
	h.status = RMAP_S_BADSESSION;
	h.msg_len = h.frag_len = 0;
	ASSERT_REJECT(h, RMAP_WIRE_OK);
	/*
	 * MOVE carries exactly a secret and a byte; its answer, nothing:
	 * the wire does not read the byte, the server does.
	 */
	h = valid_hdr(RMAP_T_MOVE, false);
	ASSERT_REJECT(h, RMAP_WIRE_OK);
	h.msg_len = h.frag_len = RMAP_MOVE_LEN - 1;
	ASSERT_REJECT(h, RMAP_WIRE_PAGES);
	h.msg_len = h.frag_len = RMAP_MOVE_LEN + 1;
	ASSERT_REJECT(h, RMAP_WIRE_PAGES);
	h.msg_len = h.frag_len = 0;
	ASSERT_REJECT(h, RMAP_WIRE_PAGES);
	h = valid_hdr(RMAP_T_MOVE, false);
	h.count = 1;
	ASSERT_REJECT(h, RMAP_WIRE_PAGES);
	h = valid_hdr(RMAP_T_MOVE, true);
	ASSERT_REJECT(h, RMAP_WIRE_OK);
	h.msg_len = h.frag_len = RMAP_SESSION_INFO_LEN;
	ASSERT_REJECT(h, RMAP_WIRE_PAGES);
	h.status = RMAP_S_BADSESSION;
	ASSERT_REJECT(h, RMAP_WIRE_PAGES);
	h.msg_len = h.frag_len = 0;
	ASSERT_REJECT(h, RMAP_WIRE_OK);

	h = valid_hdr(RMAP_T_STAT, true);
	h.msg_len = h.frag_len = RMAP_STAT_LEN - 1;
	ASSERT_REJECT(h, RMAP_WIRE_PAGES);
	/* A STAT request: nothing, or the 4-byte want mask. */
	h = valid_hdr(RMAP_T_STAT, false);
	h.msg_len = h.frag_len = RMAP_STAT_REQ_LEN;
	ASSERT_REJECT(h, RMAP_WIRE_OK);
	h.msg_len = h.frag_len = 3;
	ASSERT_REJECT(h, RMAP_WIRE_PAGES);
	h.msg_len = h.frag_len = 5;
	ASSERT_REJECT(h, RMAP_WIRE_PAGES);
	h = valid_hdr(RMAP_T_STAT, false);
	h.count = 1;
	ASSERT_REJECT(h, RMAP_WIRE_PAGES);
	/* Its answer: the body, or the body and the counters. */
	h = valid_hdr(RMAP_T_STAT, true);
	h.msg_len = h.frag_len = RMAP_STAT_EXT_LEN;
	ASSERT_REJECT(h, RMAP_WIRE_OK);
	h.msg_len = h.frag_len = RMAP_STAT_EXT_LEN - 8;
	ASSERT_REJECT(h, RMAP_WIRE_PAGES);
	/* ...and the dedup block, with or without the counters. */
	h.msg_len = h.frag_len = RMAP_STAT_LEN + RMAP_STAT_DEDUP_LEN;
	ASSERT_REJECT(h, RMAP_WIRE_OK);
	h.msg_len = h.frag_len = RMAP_STAT_EXT_LEN + RMAP_STAT_DEDUP_LEN;
	ASSERT_REJECT(h, RMAP_WIRE_OK);
	h.msg_len = h.frag_len = RMAP_STAT_EXT_LEN + RMAP_STAT_DEDUP_LEN + 4;
	ASSERT_REJECT(h, RMAP_WIRE_PAGES);
	/* ...and the transport block, after all the others. */
	h.msg_len = h.frag_len = RMAP_STAT_MAX_LEN;
	ASSERT_REJECT(h, RMAP_WIRE_OK);
	h.msg_len = h.frag_len = RMAP_STAT_LEN + RMAP_STAT_TRANSPORT_LEN;
	ASSERT_REJECT(h, RMAP_WIRE_OK);
	h.msg_len = h.frag_len = RMAP_STAT_MAX_LEN + 8;
	ASSERT_REJECT(h, RMAP_WIRE_PAGES);
	h.msg_len = h.frag_len = RMAP_STAT_MAX_LEN - 4;
	ASSERT_REJECT(h, RMAP_WIRE_PAGES);
	/* LEAVE's answer has no counters. */
	h = valid_hdr(RMAP_T_LEAVE, true);
	h.msg_len = h.frag_len = RMAP_STAT_EXT_LEN;
	ASSERT_REJECT(h, RMAP_WIRE_PAGES);

	h = valid_hdr(RMAP_T_ANNOUNCE, false);
	h.msg_len = h.frag_len = RMAP_STAT_LEN + 1;
	ASSERT_REJECT(h, RMAP_WIRE_PAGES);
	h.msg_len = h.frag_len = 0;
	ASSERT_REJECT(h, RMAP_WIRE_PAGES);
	h = valid_hdr(RMAP_T_ANNOUNCE, false);
	h.page = 7;
	ASSERT_REJECT(h, RMAP_WIRE_PAGES);

	/* Control messages: no page run, at most a small body. */
	h = valid_hdr(RMAP_T_HEARTBEAT, false);
	h.page = 1;
	ASSERT_REJECT(h, RMAP_WIRE_PAGES);
	h = valid_hdr(RMAP_T_UNREG, true);
	h.count = 1;
	ASSERT_REJECT(h, RMAP_WIRE_PAGES);
	h = valid_hdr(RMAP_T_HEARTBEAT, false);
	h.msg_len = h.frag_len = 65;
	ASSERT_REJECT(h, RMAP_WIRE_PAGES);
	h.msg_len = h.frag_len = 64;
	ASSERT_REJECT(h, RMAP_WIRE_OK);
}
END_TEST

/* ---- the rest of wire.h ---- */

START_TEST(test_stat_roundtrip)
{
	struct rmap_stat s = {
		.capacity_pages = 0x0102030405060708ull,
		.used_pages = 0x0102030405060000ull,
		.load_permille = 1000,
		.sessions = 0xfffffffeu,
		.port = 7246,
		.flags = RMAP_STAT_LEAVING,
	}, d;
	uint8_t buf[RMAP_STAT_LEN];

	rmap_stat_encode(&s, buf);
	ck_assert_uint_eq(buf[0], 1);
	ck_assert_uint_eq(buf[7], 8);
	ck_assert_int_eq(rmap_stat_decode(buf, sizeof(buf), &d), 0);
	ck_assert_uint_eq(d.capacity_pages, s.capacity_pages);
	ck_assert_uint_eq(d.used_pages, s.used_pages);
	ck_assert_uint_eq(d.load_permille, s.load_permille);
	ck_assert_uint_eq(d.sessions, s.sessions);
	ck_assert_uint_eq(d.port, s.port);
	ck_assert_uint_eq(d.flags, s.flags);
	/* The flags sit in what were the first two reserved bytes. */
	ck_assert_uint_eq(buf[26], 0);
	ck_assert_uint_eq(buf[27], RMAP_STAT_LEAVING);
	ck_assert_uint_eq(buf[28], 0);
	ck_assert_uint_eq(buf[29], 0);
}
END_TEST

START_TEST(test_stat_dedup_block)
{
	struct rmap_stat_dedup s = {
		.logical_pages = 0x0102030405060708ull,
		.unique_pages = 0x0102030405060000ull,
		.hashed_pages = 9, .hash_ns = 900, .flags = RMAP_DEDUP_ON,
	}, d;
	uint8_t buf[RMAP_STAT_DEDUP_LEN];

	rmap_stat_dedup_encode(&s, buf);
	ck_assert_uint_eq(buf[0], 1);
	ck_assert_uint_eq(buf[39], RMAP_DEDUP_ON);
	ck_assert_int_eq(rmap_stat_dedup_decode(buf, &d), 0);
	ck_assert_mem_eq(&d, &s, sizeof(s));
	/* Unknown flags, or more unique pages than held: refused. */
	s.flags = 2;
	rmap_stat_dedup_encode(&s, buf);
	ck_assert_int_eq(rmap_stat_dedup_decode(buf, &d), -1);
	s.flags = 0;
	s.unique_pages = s.logical_pages + 1;
	rmap_stat_dedup_encode(&s, buf);
	ck_assert_int_eq(rmap_stat_dedup_decode(buf, &d), -1);
}
END_TEST

/*
 * A STAT block of @n be64s: @base + i in field i goes out big-endian, in
 * order, and comes back as it went.
 */
static void check_be64_block(void (*encode)(const uint64_t *, uint8_t *),
			     void (*decode)(const uint8_t *, uint64_t *),
			     unsigned n, uint64_t base)
{
	uint64_t v[16], back[16];
	uint8_t buf[8 * 16];

	ck_assert_uint_le(n, 16);
	for (unsigned i = 0; i < n; i++)
		v[i] = base + i;
	encode(v, buf);
	ck_assert_uint_eq(buf[0], base >> 56);
	ck_assert_uint_eq(buf[8 * (n - 1) + 7], (uint8_t)(base + n - 1));
	decode(buf, back);
	ck_assert_mem_eq(v, back, n * sizeof(*v));
}

/*
 * Which blocks a reply has, from its length and what was asked: a server
 * knows the blocks added to RMAP up to its version, and sends those asked
 * for, in the order counters, dedup, transport, host, sources, memory.
 * For each request, the replies of every version have lengths of their
 * own, though two sets of blocks may share one (dedup and memory are 40
 * bytes each); the wire takes any set's length.
 */
START_TEST(test_stat_blocks)
{
	const uint32_t wants[] = { RMAP_STAT_WANT_COUNTERS,
				   RMAP_STAT_WANT_DEDUP,
				   RMAP_STAT_WANT_TRANSPORT,
				   RMAP_STAT_WANT_HOST,
				   RMAP_STAT_WANT_SOURCES,
				   RMAP_STAT_WANT_MEMORY };
	const uint32_t all = RMAP_STAT_WANT_COUNTERS | RMAP_STAT_WANT_DEDUP |
			     RMAP_STAT_WANT_TRANSPORT | RMAP_STAT_WANT_HOST |
			     RMAP_STAT_WANT_SOURCES | RMAP_STAT_WANT_MEMORY;
	const size_t lens[] = { RMAP_STAT_EXT_LEN - RMAP_STAT_LEN,
				RMAP_STAT_DEDUP_LEN, RMAP_STAT_TRANSPORT_LEN,
				RMAP_STAT_HOST_LEN, RMAP_STAT_SOURCES_LEN,
				RMAP_STAT_MEMORY_LEN };
	const unsigned nb = sizeof(wants) / sizeof(wants[0]);
	size_t sum = RMAP_STAT_LEN;
	uint32_t b;

	for (uint32_t asked = 0; asked < 1u << nb; asked++) {
		uint32_t mask = 0;

		for (unsigned i = 0; i < nb; i++)
			if (asked >> i & 1)
				mask |= wants[i];
		/* A server that knows the first v blocks. */
		for (unsigned v = 0; v <= nb; v++) {
			size_t len = RMAP_STAT_LEN;
			uint32_t sent = 0;

			for (unsigned i = 0; i < v; i++)
				if (mask & wants[i]) {
					len += lens[i];
					sent |= wants[i];
				}
			ck_assert(rmap_stat_reply_len(len));
			b = ~0u;
			ck_assert(rmap_stat_reply_blocks(len, mask, &b));
			ck_assert_uint_eq(b, sent);
		}
		/* A block it did not ask for never makes a length right. */
		for (unsigned i = 0; i < nb; i++)
			if (!(mask & wants[i]))
				ck_assert(!rmap_stat_reply_blocks(RMAP_STAT_LEN +
						lens[i], mask, &b) ||
					  b != wants[i]);
	}
	/* The same length, two sets: told apart by what was asked. */
	ck_assert(rmap_stat_reply_blocks(RMAP_STAT_LEN + 40,
					 RMAP_STAT_WANT_MEMORY, &b));
	ck_assert_uint_eq(b, RMAP_STAT_WANT_MEMORY);
	ck_assert(rmap_stat_reply_blocks(RMAP_STAT_LEN + 40,
					 RMAP_STAT_WANT_DEDUP |
					 RMAP_STAT_WANT_MEMORY, &b));
	ck_assert_uint_eq(b, RMAP_STAT_WANT_DEDUP);	/* an older server */
	ck_assert(rmap_stat_reply_blocks(RMAP_STAT_LEN + 80,
					 RMAP_STAT_WANT_DEDUP |
					 RMAP_STAT_WANT_MEMORY, &b));
	ck_assert_uint_eq(b, RMAP_STAT_WANT_DEDUP | RMAP_STAT_WANT_MEMORY);
	/* Everything asked: counters come first from any server. */
	ck_assert(!rmap_stat_reply_blocks(RMAP_STAT_LEN + 40, all, &b));
	ck_assert(!rmap_stat_reply_blocks(RMAP_STAT_LEN +
					  RMAP_STAT_TRANSPORT_LEN,
					  RMAP_STAT_WANT_DEDUP |
					  RMAP_STAT_WANT_MEMORY, &b));
	ck_assert(!rmap_stat_reply_blocks(RMAP_STAT_MAX_LEN + 8, all, &b));
	ck_assert(!rmap_stat_reply_blocks(RMAP_STAT_LEN - 1, all, &b));
	ck_assert(!rmap_stat_reply_len(RMAP_STAT_LEN + 8));
	ck_assert(!rmap_stat_reply_len(RMAP_STAT_MAX_LEN + 8));
	ck_assert(!rmap_stat_reply_len(0));
	for (unsigned i = 0; i < nb; i++)
		sum += lens[i];
	ck_assert_uint_eq(RMAP_STAT_MAX_LEN, sum);
	ck_assert_uint_eq(rmap_stat_block_off(all, RMAP_STAT_WANT_MEMORY),
			  RMAP_STAT_MAX_LEN - RMAP_STAT_MEMORY_LEN);
	ck_assert_uint_eq(rmap_stat_block_off(all, RMAP_STAT_WANT_SOURCES),
			  RMAP_STAT_MAX_LEN - RMAP_STAT_MEMORY_LEN -
			  RMAP_STAT_SOURCES_LEN);
	/* Where each block starts. */
	ck_assert_uint_eq(rmap_stat_block_off(all, RMAP_STAT_WANT_COUNTERS),
			  RMAP_STAT_LEN);
	ck_assert_uint_eq(rmap_stat_block_off(all, RMAP_STAT_WANT_DEDUP),
			  RMAP_STAT_EXT_LEN);
	ck_assert_uint_eq(rmap_stat_block_off(all, RMAP_STAT_WANT_TRANSPORT),
			  RMAP_STAT_EXT_LEN + RMAP_STAT_DEDUP_LEN);
	ck_assert_uint_eq(rmap_stat_block_off(RMAP_STAT_WANT_TRANSPORT,
					      RMAP_STAT_WANT_TRANSPORT),
			  RMAP_STAT_LEN);
	ck_assert_uint_eq(rmap_stat_block_off(RMAP_STAT_WANT_DEDUP |
					      RMAP_STAT_WANT_TRANSPORT,
					      RMAP_STAT_WANT_TRANSPORT),
			  RMAP_STAT_LEN + RMAP_STAT_DEDUP_LEN);
	ck_assert_uint_eq(rmap_stat_block_off(all, RMAP_STAT_WANT_HOST),
			  RMAP_STAT_MAX_LEN - RMAP_STAT_MEMORY_LEN -
			  RMAP_STAT_SOURCES_LEN - RMAP_STAT_HOST_LEN);
	ck_assert_uint_eq(rmap_stat_block_off(RMAP_STAT_WANT_DEDUP |
					      RMAP_STAT_WANT_HOST,
					      RMAP_STAT_WANT_HOST),
			  RMAP_STAT_LEN + RMAP_STAT_DEDUP_LEN);
	/* The transport and host blocks: be64s in their tables' order. */
	ck_assert_uint_eq(RMAP_STATT_mtu_changes, RMAP_STATT_N - 1);
	check_be64_block(rmap_stat_transport_encode, rmap_stat_transport_decode,
			 RMAP_STATT_N, 0x0102030405060700ull);
	ck_assert_uint_eq(RMAP_STATH_poll_skipped_crowded, RMAP_STATH_N - 1);
	check_be64_block(rmap_stat_host_encode, rmap_stat_host_decode,
			 RMAP_STATH_N, 0x1112131415161700ull);
	ck_assert_uint_eq(RMAP_STATM_give_back_turns, RMAP_STATM_N - 1);
	check_be64_block(rmap_stat_memory_encode, rmap_stat_memory_decode,
			 RMAP_STATM_N, 0x2122232425262700ull);
}
END_TEST

/* The sources block: the others, then each entry, as encoded. */
START_TEST(test_stat_sources)
{
	struct rmap_stat_sources in = { .others = 7 }, out;
	uint8_t buf[RMAP_STAT_SOURCES_LEN];

	in.s[0] = (struct rmap_stat_source){ 4, { 10, 77, 0, 16 }, 433 };
	in.s[1] = (struct rmap_stat_source){ 6, { 0x20, 0x01, 0x0d, 0xb8 },
					     139 };
	rmap_stat_sources_encode(&in, buf);
	ck_assert_uint_eq(buf[7], 7);
	ck_assert_uint_eq(buf[8], 4);
	ck_assert_uint_eq(buf[9 + 3], 16);
	ck_assert_uint_eq(buf[8 + 24], 433 & 0xff);
	ck_assert_int_eq(rmap_stat_sources_decode(buf, &out), 0);
	for (unsigned i = 0; i < RMAP_STAT_SOURCES; i++) {
		ck_assert_uint_eq(out.s[i].family, in.s[i].family);
		ck_assert_mem_eq(out.s[i].addr, in.s[i].addr, 16);
		ck_assert_uint_eq(out.s[i].count, in.s[i].count);
	}
	ck_assert_uint_eq(out.others, 7);
	/* As text: most first, as given; none; cut short, still a string. */
	{
		struct rmap_stat_sources none = { 0 };
		char text[80];

		rmap_stat_sources_text(&out, text, sizeof(text));
		ck_assert_str_eq(text, "10.77.0.16(433),2001:db8::(139)");
		rmap_stat_sources_text(&none, text, sizeof(text));
		ck_assert_str_eq(text, "none");
		rmap_stat_sources_text(&out, text, 12);
		ck_assert_str_eq(text, "10.77.0.16(");
	}
	/* A family that is none of 0, 4 and 6: refused. */
	buf[8 + RMAP_STAT_SOURCE_LEN * 2] = 5;
	ck_assert_int_eq(rmap_stat_sources_decode(buf, &out), -1);
}
END_TEST

START_TEST(test_stat_reject)
{
	struct rmap_stat s = { 100, 50, 10, 1, 1, 0 }, d;
	uint8_t buf[RMAP_STAT_LEN + 1] = { 0 };

	rmap_stat_encode(&s, buf);
	ck_assert_int_eq(rmap_stat_decode(buf, RMAP_STAT_LEN - 1, &d), -1);
	ck_assert_int_eq(rmap_stat_decode(buf, RMAP_STAT_LEN + 1, &d), -1);
	buf[29] = 1;			/* reserved */
	ck_assert_int_eq(rmap_stat_decode(buf, RMAP_STAT_LEN, &d), -1);
	buf[29] = 0;
	buf[28] = 0x80;			/* reserved */
	ck_assert_int_eq(rmap_stat_decode(buf, RMAP_STAT_LEN, &d), -1);
	buf[28] = 0;
	buf[27] = 0x08;			/* unknown flag */
	ck_assert_int_eq(rmap_stat_decode(buf, RMAP_STAT_LEN, &d), -1);
	buf[27] = RMAP_STAT_RESERVED;	/* known since --reserve */
	ck_assert_int_eq(rmap_stat_decode(buf, RMAP_STAT_LEN, &d), 0);
	ck_assert_uint_eq(d.flags, RMAP_STAT_RESERVED);
	buf[26] = 0x01;			/* unknown flag, high byte */
	buf[27] = 0;
	ck_assert_int_eq(rmap_stat_decode(buf, RMAP_STAT_LEN, &d), -1);
	s.flags = RMAP_STAT_LEAVING;
	rmap_stat_encode(&s, buf);
	ck_assert_int_eq(rmap_stat_decode(buf, RMAP_STAT_LEN, &d), 0);
	ck_assert_uint_eq(d.flags, RMAP_STAT_LEAVING);
	s.flags = 0;
	s.used_pages = 101;		/* more used than there is */
	rmap_stat_encode(&s, buf);
	ck_assert_int_eq(rmap_stat_decode(buf, RMAP_STAT_LEN, &d), -1);
	s.used_pages = 100;
	s.load_permille = 1001;
	rmap_stat_encode(&s, buf);
	ck_assert_int_eq(rmap_stat_decode(buf, RMAP_STAT_LEN, &d), -1);
	s.load_permille = 1000;
	rmap_stat_encode(&s, buf);
	ck_assert_int_eq(rmap_stat_decode(buf, RMAP_STAT_LEN, &d), 0);
}
END_TEST

START_TEST(test_seq_serial_arithmetic)
{
	ck_assert(rmap_seq_before(1, 2));
	ck_assert(!rmap_seq_before(2, 1));
	ck_assert(!rmap_seq_before(5, 5));
	ck_assert(rmap_seq_before(0xffffffffu, 0));
	ck_assert(!rmap_seq_before(0, 0xffffffffu));
	ck_assert(rmap_seq_before(0xfffffff0u, 0x10));
	ck_assert(rmap_seq_before(0, 0x7fffffffu));
	ck_assert(!rmap_seq_before(0x7fffffffu, 0));
	ck_assert(rmap_seq_before(0x80000000u, 0));
	/* Unsigned difference gives the distance across the wrap. */
	ck_assert_uint_eq((uint32_t)(5u - 0xfffffffbu), 10);
}
END_TEST

START_TEST(test_frag_payload_and_names)
{
	ck_assert_uint_eq(rmap_frag_payload(1500), FP1500);
	/* A page is 3 fragments at 1500, one at jumbo 9000. */
	ck_assert_uint_eq((RMAP_PAGE_SIZE + FP1500 - 1) / FP1500, 3);
	ck_assert_uint_ge(rmap_frag_payload(9000), RMAP_PAGE_SIZE);
	ck_assert_uint_eq(rmap_frag_payload(RMAP_MAX_MTU) + RMAP_OVERHEAD,
			  RMAP_MAX_DATAGRAM);
	for (unsigned e = 0; e < RMAP_WIRE_NERR; e++)
		ck_assert_str_ne(rmap_wire_strerror(e), "?");
	ck_assert_str_eq(rmap_wire_strerror(RMAP_WIRE_NERR), "?");
	for (unsigned t = 0; t <= RMAP_T_MAX; t++)
		ck_assert_str_ne(rmap_type_name(t), "?");
	ck_assert_str_eq(rmap_type_name(RMAP_T_MAX + 1), "?");
	ck_assert_str_eq(rmap_type_name(RMAP_T_WRITE), "WRITE");
	ck_assert_str_eq(rmap_type_name(RMAP_T_XWRITE), "XWRITE");
	ck_assert_str_eq(rmap_type_name(RMAP_T_LEAVE), "LEAVE");
	ck_assert_str_eq(rmap_type_name(RMAP_T_MOVE), "MOVE");
	ck_assert_uint_eq(RMAP_T_MOVE, 15);
	ck_assert_uint_eq(RMAP_T_MAX, RMAP_T_MOVE);
	ck_assert_uint_eq(RMAP_MOVE_LEN, RMAP_SECRET_LEN + 1);
	ck_assert_str_eq(rmap_status_name(RMAP_S_LEAVING), "server leaving");
	for (unsigned s = 0; s <= RMAP_S_MAX; s++)
		ck_assert_str_ne(rmap_status_name(s), "?");
	ck_assert_str_eq(rmap_status_name(RMAP_S_MAX + 1), "?");
}
END_TEST

START_TEST(test_decode_random_never_overreads)
{
	/* Random headers that pass the fixed checks: decoding is total. */
	uint64_t seed = 0x5eed0001;
	struct rmap_hdr d;
	unsigned ok = 0;

	for (unsigned i = 0; i < 200000; i++) {
		struct rmap_hdr h = valid_hdr((unsigned)(tu_rand(&seed) % 9),
					      tu_rand(&seed) & 1);
		uint8_t *f = (uint8_t *)&h;
		size_t k = tu_rand(&seed) % sizeof(h);

		f[k] ^= (uint8_t)(1u << (tu_rand(&seed) % 8));
		if (h.frag_len > RMAP_MAX_INNER - RMAP_HDR_LEN)
			h.frag_len = (uint16_t)(RMAP_MAX_INNER - RMAP_HDR_LEN);
		if (roundtrip(&h, &d) == RMAP_WIRE_OK) {
			ok++;
			/* Accepted: re-encoding gives the same bytes. */
			uint8_t again[RMAP_HDR_LEN];

			rmap_wire_encode(&d, again);
			ck_assert_mem_eq(again, pkt, RMAP_HDR_LEN);
		}
	}
	ck_assert_uint_gt(ok, 0);
}
END_TEST

static Suite *wire_suite(void)
{
	Suite *s = suite_create("wire");
	TCase *tc;

	tc = tcase_create("roundtrip");
	tcase_add_test(tc, test_roundtrip_every_type);
	tcase_add_test(tc, test_roundtrip_byte_layout);
	tcase_add_test(tc, test_roundtrip_responses_with_status);
	tcase_add_test(tc, test_roundtrip_fragments);
	tcase_add_test(tc, test_roundtrip_max_datagram);
	suite_add_tcase(s, tc);

	tc = tcase_create("reject");
	tcase_add_test(tc, test_reject_short);
	tcase_add_test(tc, test_reject_magic);
	tcase_add_test(tc, test_reject_version);
	tcase_add_test(tc, test_reject_type);
	tcase_add_test(tc, test_later_type_is_a_request);
	tcase_add_test(tc, test_padding);
	tcase_add_test(tc, test_reject_flags);
	tcase_add_test(tc, test_tags);
	tcase_add_test(tc, test_reject_status);
	tcase_add_test(tc, test_reject_length);
	tcase_add_test(tc, test_reject_frag);
	tcase_add_test(tc, test_reject_oversize);
	tcase_add_test(tc, test_reject_reserved);
	tcase_add_test(tc, test_reject_pages_read_write);
	tcase_add_test(tc, test_reject_pages_parity);
	tcase_add_test(tc, test_reject_pages_free);
	tcase_add_test(tc, test_reject_pages_reg_stat_announce);
	suite_add_tcase(s, tc);

	tc = tcase_create("misc");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_stat_roundtrip);
	tcase_add_test(tc, test_stat_reject);
	tcase_add_test(tc, test_stat_dedup_block);
	tcase_add_test(tc, test_stat_blocks);
	tcase_add_test(tc, test_stat_sources);
	tcase_add_test(tc, test_seq_serial_arithmetic);
	tcase_add_test(tc, test_frag_payload_and_names);
	tcase_add_test(tc, test_decode_random_never_overreads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(wire_suite());
}
