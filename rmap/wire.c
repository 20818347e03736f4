// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * wire.c - encode and validate RMAP headers.
 *
 * The decoder is the only code that looks at untrusted bytes.  It checks
 * every field against every other before anything else sees the header;
 * tests/fuzz/fuzz_wire.c hammers it.
 */
#include "wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

void rmap_wire_encode(const struct rmap_hdr *h, uint8_t out[RMAP_HDR_LEN])
{
	wire_put16(out + 0, RMAP_MAGIC);
	out[2] = RMAP_VERSION;
	out[3] = h->type;
	wire_put16(out + 4, h->flags);
	out[6] = h->status;
	out[7] = 0;
	wire_put32(out + 8, h->epoch);
	wire_put32(out + 12, h->session);
	wire_put32(out + 16, h->seq);
	wire_put32(out + 20, h->base);
	wire_put32(out + 24, h->ack);
	wire_put32(out + 28, 0);
	wire_put64(out + 32, h->sack);
	wire_put32(out + 40, h->reqid);
	wire_put16(out + 44, h->frag_idx);
	wire_put16(out + 46, h->frag_cnt);
	wire_put32(out + 48, h->msg_len);
	wire_put32(out + 52, h->frag_off);
	wire_put64(out + 56, h->page);
	wire_put32(out + 64, h->count);
	wire_put16(out + 68, h->frag_len);
	wire_put16(out + 70, 0);
}

/* Is the page run of a complete message consistent with its type? */
static enum rmap_wire_err check_pages(const struct rmap_hdr *h)
{
	int resp = h->flags & RMAP_F_RESPONSE;
	int data;

	switch (h->type) {
	case RMAP_T_READ:
	case RMAP_T_WRITE:
	case RMAP_T_XWRITE:
	case RMAP_T_XFREE:
	case RMAP_T_PXOR:
	case RMAP_T_READZ:
		if (h->count == 0 || h->count > RMAP_MAX_PAGES)
			return RMAP_WIRE_PAGES;
		if (h->page + h->count < h->page)
			return RMAP_WIRE_PAGES;
		/*
		 * Pages travel with WRITE, XWRITE and PXOR requests, and
		 * with OK replies to READ, READZ, XWRITE (the deltas) and
		 * XFREE (the old contents).
		 */
		if (!resp)
			data = h->type == RMAP_T_WRITE ||
			       h->type == RMAP_T_XWRITE ||
			       h->type == RMAP_T_PXOR;
		else
			data = h->status == RMAP_S_OK &&
			       (h->type == RMAP_T_READ ||
				h->type == RMAP_T_READZ ||
				h->type == RMAP_T_XWRITE ||
				h->type == RMAP_T_XFREE);
		if (data) {
			if (h->msg_len != h->count * rmap_page_bytes(h->flags))
				return RMAP_WIRE_PAGES;
		} else if (h->msg_len != 0) {
			return RMAP_WIRE_PAGES;
		}
		return RMAP_WIRE_OK;
	case RMAP_T_FREE:
		if (h->flags & RMAP_F_TAGS)
			return RMAP_WIRE_PAGES;
		if (h->count == 0 || h->page + h->count < h->page)
			return RMAP_WIRE_PAGES;
		return h->msg_len ? RMAP_WIRE_PAGES : RMAP_WIRE_OK;
	case RMAP_T_REG:
	case RMAP_T_ATTACH:
		if (!resp && h->msg_len != (h->type == RMAP_T_REG ?
					    RMAP_REG_LEN : RMAP_ATTACH_LEN))
			return RMAP_WIRE_PAGES;
		if (resp && h->status == RMAP_S_OK &&
		    h->msg_len != RMAP_SESSION_INFO_LEN)
			return RMAP_WIRE_PAGES;
		break;
	case RMAP_T_MOVE:
		/* A secret and a byte; the answer is its status alone. */
		if (!resp && h->msg_len != RMAP_MOVE_LEN)
			return RMAP_WIRE_PAGES;
		if (resp && h->msg_len)
			return RMAP_WIRE_PAGES;
		break;
	case RMAP_T_STAT:
		/* STAT may ask for the counters, and get them; no tags. */
		if (h->page || h->count || h->flags & RMAP_F_TAGS)
			return RMAP_WIRE_PAGES;
		if (resp && h->status == RMAP_S_OK)
			return rmap_stat_reply_len(h->msg_len) ?
			       RMAP_WIRE_OK : RMAP_WIRE_PAGES;
		if (!resp && h->msg_len && h->msg_len != RMAP_STAT_REQ_LEN)
			return RMAP_WIRE_PAGES;
		break;
	case RMAP_T_LEAVE:
	case RMAP_T_ANNOUNCE:
		/* LEAVE is answered with a STAT body, like STAT. */
		if ((resp || h->type == RMAP_T_ANNOUNCE) &&
		    h->status == RMAP_S_OK && h->msg_len != RMAP_STAT_LEN)
			return RMAP_WIRE_PAGES;
		if (!resp && h->type != RMAP_T_ANNOUNCE && h->msg_len)
			return RMAP_WIRE_PAGES;
		break;
	default:
		break;
	}
	/* Control messages carry no page run, no tags, a small body. */
	if (h->page || h->count || h->msg_len > 64 || h->flags & RMAP_F_TAGS)
		return RMAP_WIRE_PAGES;
	return RMAP_WIRE_OK;
}

static enum rmap_wire_err check_frag(const struct rmap_hdr *h)
{
	uint64_t end = (uint64_t)h->frag_off + h->frag_len;

	if (h->msg_len > RMAP_MAX_MSG)
		return RMAP_WIRE_OVERSIZE;
	if (h->frag_cnt == 0 || h->frag_cnt > RMAP_MAX_FRAGS ||
	    h->frag_idx >= h->frag_cnt)
		return RMAP_WIRE_FRAG;
	if (end > h->msg_len)
		return RMAP_WIRE_FRAG;
	if (h->frag_idx == 0 && h->frag_off != 0)
		return RMAP_WIRE_FRAG;
	if (h->frag_idx == h->frag_cnt - 1 && end != h->msg_len)
		return RMAP_WIRE_FRAG;
	/* Every fragment but the empty message's one carries bytes. */
	if (h->frag_len == 0 && h->msg_len != 0)
		return RMAP_WIRE_FRAG;
	if (h->frag_cnt > 1 && h->frag_cnt > h->msg_len)
		return RMAP_WIRE_FRAG;
	/*
	 * Fragments tile the message at a fixed stride: fragment i starts
	 * at i * stride, and all but the last are exactly stride long.  So
	 * a reassembled message has no holes (and no stale heap bytes).
	 */
	if (h->frag_idx != h->frag_cnt - 1) {
		if (h->frag_off != (uint64_t)h->frag_idx * h->frag_len)
			return RMAP_WIRE_FRAG;
	} else if (h->frag_idx) {
		if (h->frag_off % h->frag_idx ||
		    h->frag_len > h->frag_off / h->frag_idx)
			return RMAP_WIRE_FRAG;
	}
	/* Fragments of a multi-fragment message come in seq order. */
	if (h->frag_cnt > 1 && !(h->flags & RMAP_F_RELIABLE))
		return RMAP_WIRE_FRAG;
	return RMAP_WIRE_OK;
}

enum rmap_wire_err rmap_wire_decode(const uint8_t *buf, size_t len,
				    struct rmap_hdr *h)
{
	enum rmap_wire_err err;

	if (len < RMAP_HDR_LEN)
		return RMAP_WIRE_SHORT;
	if (wire_get16(buf) != RMAP_MAGIC)
		return RMAP_WIRE_MAGIC;
	if (buf[2] != RMAP_VERSION)
		return RMAP_WIRE_VERSION;
	if (len > RMAP_MAX_INNER)
		return RMAP_WIRE_LENGTH;

	memset(h, 0, sizeof(*h));
	h->type = buf[3];
	h->flags = wire_get16(buf + 4);
	h->status = buf[6];
	h->epoch = wire_get32(buf + 8);
	h->session = wire_get32(buf + 12);
	h->seq = wire_get32(buf + 16);
	h->base = wire_get32(buf + 20);
	h->ack = wire_get32(buf + 24);
	h->sack = wire_get64(buf + 32);
	h->reqid = wire_get32(buf + 40);
	h->frag_idx = wire_get16(buf + 44);
	h->frag_cnt = wire_get16(buf + 46);
	h->msg_len = wire_get32(buf + 48);
	h->frag_off = wire_get32(buf + 52);
	h->page = wire_get64(buf + 56);
	h->count = wire_get32(buf + 64);
	h->frag_len = wire_get16(buf + 68);

	if (buf[7] != 0 || wire_get32(buf + 28) != 0 || wire_get16(buf + 70) != 0)
		return RMAP_WIRE_RESERVED;
	if (h->type >= RMAP_T_LIMIT)
		return RMAP_WIRE_TYPE;
	if (h->flags & ~RMAP_F_ALL)
		return RMAP_WIRE_FLAGS;
	if (h->status > RMAP_S_MAX ||
	    (h->status && !(h->flags & RMAP_F_RESPONSE)))
		return RMAP_WIRE_STATUS;
	if (h->flags & RMAP_F_PAD) {
		/* Padded: only zeros after the fragment, and some. */
		if (h->frag_len >= len - RMAP_HDR_LEN)
			return RMAP_WIRE_LENGTH;
		for (size_t i = RMAP_HDR_LEN + h->frag_len; i < len; i++)
			if (buf[i])
				return RMAP_WIRE_LENGTH;
	} else if (h->frag_len != len - RMAP_HDR_LEN) {
		return RMAP_WIRE_LENGTH;
	}

	if (h->type == RMAP_T_ACK) {
		/* A bare acknowledgement: nothing else may be set. */
		if (h->flags != RMAP_F_ACK || h->seq || h->base || h->reqid ||
		    h->frag_idx || h->frag_cnt || h->msg_len ||
		    h->frag_off || h->page || h->count || h->frag_len ||
		    h->session)
			return RMAP_WIRE_FLAGS;
		return RMAP_WIRE_OK;
	}
	/* Announcements are broadcast and never acknowledged. */
	if (h->type == RMAP_T_ANNOUNCE) {
		if (h->flags & (RMAP_F_RELIABLE | RMAP_F_RESPONSE))
			return RMAP_WIRE_FLAGS;
	} else if (!(h->flags & RMAP_F_RELIABLE)) {
		return RMAP_WIRE_FLAGS;
	}
	if (h->flags & RMAP_F_RELIABLE) {
		/* The sender's window: base <= seq < base + 1024. */
		if (h->seq - h->base >= RMAP_MAX_WINDOW)
			return RMAP_WIRE_FLAGS;
	} else if (h->seq || h->base) {
		return RMAP_WIRE_FLAGS;
	}

	err = check_frag(h);
	if (err)
		return err;
	return check_pages(h);
}

const char *rmap_wire_strerror(enum rmap_wire_err e)
{
	static const char *const names[RMAP_WIRE_NERR] = {
		[RMAP_WIRE_OK] = "ok",
		[RMAP_WIRE_SHORT] = "truncated header",
		[RMAP_WIRE_MAGIC] = "bad magic",
		[RMAP_WIRE_VERSION] = "unknown version",
		[RMAP_WIRE_TYPE] = "unknown message type",
		[RMAP_WIRE_FLAGS] = "bad flags",
		[RMAP_WIRE_STATUS] = "bad status",
		[RMAP_WIRE_LENGTH] = "length mismatch",
		[RMAP_WIRE_FRAG] = "bad fragment",
		[RMAP_WIRE_OVERSIZE] = "oversized message",
		[RMAP_WIRE_RESERVED] = "reserved field set",
		[RMAP_WIRE_PAGES] = "bad page run",
	};

	return (unsigned)e < RMAP_WIRE_NERR ? names[e] : "?";
}

const char *rmap_type_name(unsigned type)
{
	static const char *const names[] = {
		"ACK", "REG", "UNREG", "READ", "WRITE", "FREE", "STAT",
		"ANNOUNCE", "HEARTBEAT", "XWRITE", "XFREE", "PXOR", "READZ",
		"LEAVE", "ATTACH", "MOVE",
	};

	return type <= RMAP_T_MAX ? names[type] : "?";
}

const char *rmap_status_name(unsigned status)
{
	static const char *const names[] = {
		"ok", "no such page", "server full", "bad session",
		"invalid request", "unsupported", "server leaving",
	};

	return status <= RMAP_S_MAX ? names[status] : "?";
}

void rmap_stat_encode(const struct rmap_stat *s, uint8_t out[RMAP_STAT_LEN])
{
	wire_put64(out, s->capacity_pages);
	wire_put64(out + 8, s->used_pages);
	wire_put32(out + 16, s->load_permille);
	wire_put32(out + 20, s->sessions);
	wire_put16(out + 24, s->port);
	wire_put16(out + 26, s->flags);
	wire_put16(out + 28, 0);
}

int rmap_stat_decode(const uint8_t *buf, size_t len, struct rmap_stat *s)
{
	if (len != RMAP_STAT_LEN || wire_get16(buf + 28) != 0)
		return -1;
	s->capacity_pages = wire_get64(buf);
	s->used_pages = wire_get64(buf + 8);
	s->load_permille = wire_get32(buf + 16);
	s->sessions = wire_get32(buf + 20);
	s->port = wire_get16(buf + 24);
	s->flags = wire_get16(buf + 26);
	if (s->used_pages > s->capacity_pages || s->load_permille > 1000)
		return -1;
	/* Unknown flags are refused, like unknown header flags. */
	if (s->flags & ~RMAP_STAT_F_ALL)
		return -1;
	return 0;
}

/* A STAT block of @n counters: be64s, in their table's order. */
static void put64s(uint8_t *out, const uint64_t *v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		wire_put64(out + 8 * i, v[i]);
}

static void get64s(const uint8_t *in, uint64_t *v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		v[i] = wire_get64(in + 8 * i);
}

void rmap_stat_counters_encode(const uint64_t c[RMAP_STATC_N], uint8_t *out)
{
	put64s(out, c, RMAP_STATC_N);
}

void rmap_stat_counters_decode(const uint8_t *in, uint64_t c[RMAP_STATC_N])
{
	get64s(in, c, RMAP_STATC_N);
}

void rmap_stat_dedup_encode(const struct rmap_stat_dedup *d, uint8_t *out)
{
	wire_put64(out, d->logical_pages);
	wire_put64(out + 8, d->unique_pages);
	wire_put64(out + 16, d->hashed_pages);
	wire_put64(out + 24, d->hash_ns);
	wire_put64(out + 32, d->flags);
}

int rmap_stat_dedup_decode(const uint8_t *in, struct rmap_stat_dedup *d)
{
	d->logical_pages = wire_get64(in);
	d->unique_pages = wire_get64(in + 8);
	d->hashed_pages = wire_get64(in + 16);
	d->hash_ns = wire_get64(in + 24);
	d->flags = wire_get64(in + 32);
	if (d->flags & ~(uint64_t)RMAP_DEDUP_ON ||
	    d->unique_pages > d->logical_pages)
		return -1;
	return 0;
}

void rmap_stat_transport_encode(const uint64_t t[RMAP_STATT_N], uint8_t *out)
{
	put64s(out, t, RMAP_STATT_N);
}

void rmap_stat_transport_decode(const uint8_t *in, uint64_t t[RMAP_STATT_N])
{
	get64s(in, t, RMAP_STATT_N);
}

void rmap_stat_host_encode(const uint64_t h[RMAP_STATH_N], uint8_t *out)
{
	put64s(out, h, RMAP_STATH_N);
}

void rmap_stat_host_decode(const uint8_t *in, uint64_t h[RMAP_STATH_N])
{
	get64s(in, h, RMAP_STATH_N);
}

void rmap_stat_memory_encode(const uint64_t m[RMAP_STATM_N], uint8_t *out)
{
	put64s(out, m, RMAP_STATM_N);
}

void rmap_stat_memory_decode(const uint8_t *in, uint64_t m[RMAP_STATM_N])
{
	get64s(in, m, RMAP_STATM_N);
}

void rmap_stat_sources_encode(const struct rmap_stat_sources *s, uint8_t *out)
{
	wire_put64(out, s->others);
	out += 8;
	for (unsigned i = 0; i < RMAP_STAT_SOURCES; i++) {
		out[0] = s->s[i].family;
		memcpy(out + 1, s->s[i].addr, 16);
		wire_put64(out + 17, s->s[i].count);
		out += RMAP_STAT_SOURCE_LEN;
	}
}

int rmap_stat_sources_decode(const uint8_t *in, struct rmap_stat_sources *s)
{
	s->others = wire_get64(in);
	in += 8;
	for (unsigned i = 0; i < RMAP_STAT_SOURCES; i++) {
		s->s[i].family = in[0];
		memcpy(s->s[i].addr, in + 1, 16);
		s->s[i].count = wire_get64(in + 17);
		if (in[0] != 0 && in[0] != 4 && in[0] != 6)
			return -1;
		in += RMAP_STAT_SOURCE_LEN;
	}
	return 0;
}

void rmap_stat_sources_text(const struct rmap_stat_sources *s, char *out,
			    size_t len)
{
	char host[INET6_ADDRSTRLEN];
	size_t n = 0;

	snprintf(out, len, "none");
	for (unsigned i = 0; i < RMAP_STAT_SOURCES && n < len; i++) {
		const struct rmap_stat_source *e = &s->s[i];
		int w;

		if (!e->family)
			continue;
		if (!inet_ntop(e->family == 4 ? AF_INET : AF_INET6, e->addr,
			       host, sizeof(host)))
			snprintf(host, sizeof(host), "?");
		w = snprintf(out + n, len - n, "%s%s(%llu)", n ? "," : "", host,
			     (unsigned long long)e->count);
		if (w < 0)
			break;
		n += (size_t)w;
	}
}

/*
 * The blocks after a STAT body, in the order a reply carries them, which
 * is the order they were added to RMAP: a new block goes last, always.
 */
static const struct {
	uint32_t want;
	size_t len;
} stat_blocks[] = {
	{ RMAP_STAT_WANT_COUNTERS, RMAP_STAT_EXT_LEN - RMAP_STAT_LEN },
	{ RMAP_STAT_WANT_DEDUP, RMAP_STAT_DEDUP_LEN },
	{ RMAP_STAT_WANT_TRANSPORT, RMAP_STAT_TRANSPORT_LEN },
	{ RMAP_STAT_WANT_HOST, RMAP_STAT_HOST_LEN },
	{ RMAP_STAT_WANT_SOURCES, RMAP_STAT_SOURCES_LEN },
	{ RMAP_STAT_WANT_MEMORY, RMAP_STAT_MEMORY_LEN },
};
#define N_STAT_BLOCKS	(sizeof(stat_blocks) / sizeof(stat_blocks[0]))

size_t rmap_stat_block_off(uint32_t blocks, uint32_t want)
{
	size_t off = RMAP_STAT_LEN;

	for (unsigned i = 0; i < N_STAT_BLOCKS && stat_blocks[i].want != want;
	     i++)
		if (blocks & stat_blocks[i].want)
			off += stat_blocks[i].len;
	return off;
}

bool rmap_stat_reply_len(size_t len)
{
	for (uint32_t k = 0; k < 1u << N_STAT_BLOCKS; k++) {
		size_t l = RMAP_STAT_LEN;

		for (unsigned i = 0; i < N_STAT_BLOCKS; i++)
			if (k >> i & 1)
				l += stat_blocks[i].len;
		if (len == l)
			return true;
	}
	return false;
}

bool rmap_stat_reply_blocks(size_t len, uint32_t asked, uint32_t *blocks)
{
	size_t l = RMAP_STAT_LEN;
	uint32_t b = 0;

	/* A server that knows the first i blocks sends l bytes, b. */
	for (unsigned i = 0;; i++) {
		if (len == l) {
			*blocks = b;
			return true;
		}
		if (i == N_STAT_BLOCKS)
			return false;
		if (asked & stat_blocks[i].want) {
			l += stat_blocks[i].len;
			b |= stat_blocks[i].want;
		}
	}
}

void rmap_session_info_encode(const struct rmap_session_info *si,
			      uint8_t out[RMAP_SESSION_INFO_LEN])
{
	wire_put32(out, si->heartbeat_ms);
	wire_put32(out + 4, si->lease_s);
}

int rmap_session_info_decode(const uint8_t *buf, size_t len,
			     struct rmap_session_info *si)
{
	if (len != RMAP_SESSION_INFO_LEN)
		return -EINVAL;
	si->heartbeat_ms = wire_get32(buf);
	si->lease_s = wire_get32(buf + 4);
	return 0;
}
