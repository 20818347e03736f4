/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * wire.h - the RMAP packet header, as it crosses the network.
 *
 * Every RMAP datagram is a 16-byte outer header (what the receiver needs
 * to find the keys), then one fixed 72-byte message header in network
 * byte order and at most one fragment of message payload, sealed by an
 * AEAD (or in clear with authentication off).  The message header carries
 * three things at once, so that the common case needs one packet:
 *
 *   - transport state: the packet's own sequence number and a cumulative
 *     plus selective acknowledgement of what its sender has received;
 *   - fragmentation: which piece of which message this packet carries;
 *   - the message itself: type, status, session, request id, page run.
 *
 * rmap(7) documents the layout.  Nothing here trusts its input:
 * rmap_wire_decode() validates every field and says why it refused.
 */
#ifndef MEMX_RMAP_WIRE_H
#define MEMX_RMAP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RMAP_MAGIC		0x4d58u	/* "MX" */
#define RMAP_VERSION		2u
/*
 * A datagram is a 16-byte outer header in clear (magic, version, kind,
 * receiver index, counter), then the message header and its fragment of
 * payload: sealed with the session's AEAD (and its 16-byte tag) after an
 * authenticated handshake, or in clear when authentication is off.
 * Handshake messages (kinds INIT, RESP, COOKIE) have layouts of their
 * own (noise.h, rmap(7)).
 */
#define RMAP_OUTER_LEN		16u
#define RMAP_AEAD_TAG_LEN	16u
/* The message header, inside. */
#define RMAP_HDR_LEN		72u
#define RMAP_OVERHEAD		(RMAP_OUTER_LEN + RMAP_HDR_LEN + \
				 RMAP_AEAD_TAG_LEN)

/* Datagram kinds (byte 3 of the outer header). */
enum rmap_kind {
	RMAP_K_INIT = 1,	/* handshake initiation */
	RMAP_K_RESP = 2,	/* handshake response */
	RMAP_K_COOKIE = 3,	/* "under load: retry with this cookie" */
	RMAP_K_DATA = 4,	/* a sealed message fragment */
	RMAP_K_PLAIN = 5,	/* a message fragment in clear (no auth) */
};

#define RMAP_PAGE_SIZE		4096u
/*
 * A page's integrity tag: a MAC its client computed and the server keeps
 * beside the page, opaque to it (rmap(7), RMAP_F_TAGS).
 */
#define RMAP_TAG_LEN		16u
/* One message carries at most this many pages (1 MiB), and their tags. */
#define RMAP_MAX_PAGES		256u
#define RMAP_MAX_MSG		(RMAP_MAX_PAGES * (RMAP_PAGE_SIZE + RMAP_TAG_LEN))
#define RMAP_MIN_MTU		576u
#define RMAP_MAX_MTU		9000u
/* IPv4 (20) + UDP (8) headers: what an MTU-sized frame loses to them. */
#define RMAP_IP_UDP_OVERHEAD	28u
/* ... and over IPv6, whose header is 40 bytes, this much more. */
#define RMAP_IP6_EXTRA		20u
#define RMAP_MAX_DATAGRAM	(RMAP_MAX_MTU - RMAP_IP_UDP_OVERHEAD)
/* The longest message header plus fragment inside a datagram. */
#define RMAP_MAX_INNER		(RMAP_MAX_DATAGRAM - RMAP_OUTER_LEN - \
				 RMAP_AEAD_TAG_LEN)
/* A 1 MiB message at the smallest MTU is 2280 fragments. */
#define RMAP_MAX_FRAGS		4096u
/* Largest transmit window: a reliable packet's seq is below base + this. */
#define RMAP_MAX_WINDOW		1024u

/* Message types. */
enum rmap_type {
	RMAP_T_ACK = 0,		/* transport acknowledgement only, no message */
	RMAP_T_REG = 1,		/* open a client session */
	RMAP_T_UNREG = 2,	/* close it and free everything it stored */
	RMAP_T_READ = 3,	/* page run -> page data */
	RMAP_T_WRITE = 4,	/* page run + data -> status */
	RMAP_T_FREE = 5,	/* discard a page run */
	RMAP_T_STAT = 6,	/* capacity, usage, load */
	RMAP_T_ANNOUNCE = 7,	/* unsolicited, unreliable: "I lend memory" */
	RMAP_T_HEARTBEAT = 8,	/* keeps a session's soft state alive */
	RMAP_T_XWRITE = 9,	/* WRITE that answers old ^ new per page */
	RMAP_T_XFREE = 10,	/* FREE that answers the old contents */
	RMAP_T_PXOR = 11,	/* stored ^= data; a zero result is dropped */
	RMAP_T_READZ = 12,	/* READ where absent pages read as zeros */
	RMAP_T_LEAVE = 13,	/* "I moved my pages away: you may leave" */
	RMAP_T_ATTACH = 14,	/* take over an open session (a restarted
				 * client proves it knows its secret) */
	RMAP_T_MOVE = 15,	/* the owner lets another client ATTACH its
				 * session (live migration), or no more */
	RMAP_T_MAX = 15,
	/*
	 * Types above RMAP_T_MAX and below RMAP_T_LIMIT are those of later
	 * releases.  Shaped as a control message (reliable, no page run,
	 * no tags, at most 64 bytes), such a message is well formed: a
	 * request is acknowledged and a server answers it RMAP_S_UNSUPP,
	 * so a newer client learns at once what an older server cannot do
	 * instead of retransmitting into silence.
	 */
	RMAP_T_LIMIT = 64,
};

/*
 * Types whose header carries a page run of 1..RMAP_MAX_PAGES pages (FREE
 * carries a run too, of any length).  Their replies echo the run.
 */
static inline int rmap_type_has_run(unsigned type)
{
	return type == RMAP_T_READ || type == RMAP_T_WRITE ||
	       type == RMAP_T_FREE || type == RMAP_T_XWRITE ||
	       type == RMAP_T_XFREE || type == RMAP_T_PXOR ||
	       type == RMAP_T_READZ;
}

/* Header flags. */
#define RMAP_F_RESPONSE		0x0001u	/* a reply to request @reqid */
#define RMAP_F_ACK		0x0002u	/* @ack and @sack are valid */
#define RMAP_F_RELIABLE		0x0004u	/* @seq is valid; receiver must ack */
/*
 * Page tags travel with the pages: a request of a page-run type with this
 * flag carries (WRITE, XWRITE, PXOR), or asks for (READ, READZ, XWRITE,
 * XFREE), @count tags of RMAP_TAG_LEN bytes after its @count pages; the
 * reply echoes the flag.  A server that does not know it drops the packet
 * (RMAP_WIRE_FLAGS); one that does says so in STAT (RMAP_STAT_TAGS).
 */
#define RMAP_F_TAGS		0x0010u
/*
 * Zeros follow the fragment, up to the end of the datagram: a message's
 * last fragment padded to its neighbours' size, so that a run of
 * fragments of several messages goes as one UDP GSO send (rmap(7)).
 */
#define RMAP_F_PAD		0x0020u
#define RMAP_F_ALL		0x0037u

/* Bytes a page-run message carries per page: the page, and its tag. */
static inline unsigned rmap_page_bytes(unsigned flags)
{
	return RMAP_PAGE_SIZE + (flags & RMAP_F_TAGS ? RMAP_TAG_LEN : 0);
}

/* Response status. */
enum rmap_status {
	RMAP_S_OK = 0,
	RMAP_S_NOENT = 1,	/* a page of the run is not stored here */
	RMAP_S_FULL = 2,	/* capacity reached: nothing was written */
	RMAP_S_BADSESSION = 3,	/* unknown or expired session */
	RMAP_S_INVAL = 4,	/* request malformed for its type */
	RMAP_S_UNSUPP = 5,	/* type not served by this node */
	RMAP_S_LEAVING = 6,	/* the server is leaving: no new sessions */
	RMAP_S_MAX = 6,
};

/* The decoded header, in host byte order. */
struct rmap_hdr {
	uint8_t type;
	uint8_t status;
	uint16_t flags;
	uint32_t epoch;		/* sender's incarnation; changes on restart */
	uint32_t session;
	uint32_t seq;
	uint32_t base;		/* sender's lowest unacknowledged seq */
	uint32_t ack;		/* every seq before this one was received */
	uint64_t sack;		/* bit i: seq ack + 1 + i was received */
	uint32_t reqid;
	uint16_t frag_idx;
	uint16_t frag_cnt;
	uint32_t msg_len;
	uint32_t frag_off;
	uint64_t page;
	uint32_t count;
	uint16_t frag_len;
};

/* Why a datagram was refused.  Counted per reason; never fatal. */
enum rmap_wire_err {
	RMAP_WIRE_OK = 0,
	RMAP_WIRE_SHORT,	/* shorter than the header */
	RMAP_WIRE_MAGIC,
	RMAP_WIRE_VERSION,
	RMAP_WIRE_TYPE,
	RMAP_WIRE_FLAGS,
	RMAP_WIRE_STATUS,
	RMAP_WIRE_LENGTH,	/* frag_len disagrees with the datagram */
	RMAP_WIRE_FRAG,		/* fragment fields inconsistent */
	RMAP_WIRE_OVERSIZE,	/* message larger than RMAP_MAX_MSG */
	RMAP_WIRE_RESERVED,	/* reserved field not zero */
	RMAP_WIRE_PAGES,	/* page run inconsistent with type/length */
	RMAP_WIRE_NERR,
};

/* Server capacity report: the payload of STAT replies and ANNOUNCE. */
struct rmap_stat {
	uint64_t capacity_pages;
	uint64_t used_pages;
	uint32_t load_permille;	/* recent request load, 0..1000 */
	uint32_t sessions;
	uint16_t port;		/* where the announcer serves RMAP */
	uint16_t flags;		/* RMAP_STAT_* */
};
#define RMAP_STAT_LEN		30u
/*
 * A STAT request may carry a be32 of what else it wants: with
 * RMAP_STAT_WANT_COUNTERS, the OK reply's body is followed by the
 * server's drop counters, each a be64, in the order of the table below
 * (rmap(7)): what it refused, and why.
 */
#define RMAP_STAT_REQ_LEN	4u
#define RMAP_STAT_WANT_COUNTERS	0x00000001u
#define RMAP_STAT_COUNTERS(X)						\
	X(rx_packets, "datagrams received")				\
	X(bad_packets, "datagrams refused as malformed")		\
	X(auth_failures, "datagrams that failed to authenticate")	\
	X(replays, "authentic datagrams or handshakes seen before")	\
	X(cookie_challenges, "cookies sent to initiators, under load")	\
	X(limit_drops, "datagrams refused for a per-peer bound")	\
	X(unknown_peer, "datagrams from unknown peers")			\
	X(handshakes, "handshakes completed")				\
	X(bad_session, "requests naming a session not theirs")		\
	X(session_limit, "REGs refused: the client has too many sessions")
enum {
#define X(name, help) RMAP_STATC_##name,
	RMAP_STAT_COUNTERS(X)
#undef X
	RMAP_STATC_N
};
#define RMAP_STAT_EXT_LEN	(RMAP_STAT_LEN + 8u * RMAP_STATC_N)
/*
 * With RMAP_STAT_WANT_DEDUP, the OK reply ends with the server's dedup
 * block (after the counters, if they were asked for too), five be64s:
 * an older server ignores the bit and answers without it, so the length
 * says which blocks came.
 */
#define RMAP_STAT_WANT_DEDUP	0x00000002u
struct rmap_stat_dedup {
	uint64_t logical_pages;	/* pages its sessions hold: references */
	uint64_t unique_pages;	/* slots they take: used_pages */
	uint64_t hashed_pages;	/* pages hashed to find an equal one */
	uint64_t hash_ns;	/* time spent hashing and comparing them */
	uint64_t flags;		/* RMAP_DEDUP_* */
};
#define RMAP_STAT_DEDUP_LEN	40u
/* The server shares equal pages (memxd --dedup=on). */
#define RMAP_DEDUP_ON		0x1u
/*
 * With RMAP_STAT_WANT_TRANSPORT, the OK reply ends with what the server's
 * sending cost, each a be64, in the order of the table below (after the
 * counters and the dedup block, if they were asked for too): a link that
 * loses, or whose MTU changed, shows here.
 */
#define RMAP_STAT_WANT_TRANSPORT	0x00000004u
#define RMAP_STAT_TRANSPORT(X)						\
	X(tx_packets, "datagrams sent")					\
	X(retransmits, "datagrams sent again when the retry timer ran out") \
	X(fast_retransmits, "datagrams sent again on a SACK's news")	\
	X(dup_packets, "datagrams received twice")			\
	X(send_errors, "sends the kernel refused")			\
	X(mtu_changes, "routes to clients found at another MTU")
enum {
#define X(name, help) RMAP_STATT_##name,
	RMAP_STAT_TRANSPORT(X)
#undef X
	RMAP_STATT_N
};
#define RMAP_STAT_TRANSPORT_LEN	(8u * RMAP_STATT_N)
/*
 * With RMAP_STAT_WANT_HOST, the OK reply ends with what serving costs
 * the server's host, each a be64, in the order of the table below (after
 * every other block asked for): its CPU since it started, and what its
 * polling for requests (memxd --poll-us) decided.
 */
#define RMAP_STAT_WANT_HOST	0x00000008u
#define RMAP_STAT_HOST(X)						\
	X(cpu_user_ms, "CPU time in user mode since it started, ms")	\
	X(cpu_sys_ms, "CPU time in the kernel since it started, ms")	\
	X(polls, "polls for a request before sleeping")		\
	X(poll_hits, "polls a request ended")				\
	X(poll_misses, "polls that ran out, then slept")		\
	X(poll_skipped_score, "sleeps at once: polls seldom paid lately") \
	X(poll_skipped_crowded, "sleeps at once: threads waited for a CPU")
enum {
#define X(name, help) RMAP_STATH_##name,
	RMAP_STAT_HOST(X)
#undef X
	RMAP_STATH_N
};
#define RMAP_STAT_HOST_LEN	(8u * RMAP_STATH_N)
/*
 * With RMAP_STAT_WANT_RESERVED, the client reads RMAP_STAT_RESERVED: a
 * server sets that flag only in a reply to a STAT that asks, since
 * clients built before it refuse a STAT body with a flag they do not
 * know.  It adds no block; an older server ignores the bit.
 */
#define RMAP_STAT_WANT_RESERVED	0x00000010u
/*
 * With RMAP_STAT_WANT_SOURCES, the OK reply ends with the hosts whose
 * datagrams the server refused, as its endpoint keeps them
 * (rmap_refused_source; the address is the one a datagram claimed, so
 * forgeable): a be64 of the refusals no entry holds (hosts the table
 * let go), then RMAP_STAT_SOURCES entries, most refused first, each a
 * family byte (0: unused, 4: IPv4 in the first four address bytes,
 * 6: IPv6), 16 address bytes and a be64 count.  After the blocks above.
 */
#define RMAP_STAT_WANT_SOURCES	0x00000020u
#define RMAP_STAT_SOURCES	4u
struct rmap_stat_source {
	uint8_t family;		/* 0, 4 or 6 */
	uint8_t addr[16];
	uint64_t count;
};
struct rmap_stat_sources {
	uint64_t others;
	struct rmap_stat_source s[RMAP_STAT_SOURCES];
};
#define RMAP_STAT_SOURCE_LEN	25u
#define RMAP_STAT_SOURCES_LEN	(8u + RMAP_STAT_SOURCES * RMAP_STAT_SOURCE_LEN)
/*
 * With RMAP_STAT_WANT_MEMORY, the OK reply ends with what the server's
 * store does between requests (after every other block), each a be64,
 * in the order of the table below: the sessions that ended and are
 * still being walked a slice per turn, and the memory on its way back
 * to the host.  used_pages counts the slots of @freeing_pages until the
 * walk passes them, so a server looks fuller than it is for a while; a
 * write that needs the room finishes the walk first.  With dedup, a
 * reference may share its slot with a live session's: the slots the walk
 * releases are at most @freeing_pages.
 */
#define RMAP_STAT_WANT_MEMORY	0x00000040u
#define RMAP_STAT_MEMORY(X)						\
	X(freeing_pages, "references of ended sessions not yet dropped (their slots counted in used_pages)") \
	X(give_back_pages, "pages let go of, not yet given back to the host") \
	X(freed_pages, "references of ended sessions dropped since it started") \
	X(given_back_pages, "pages given back to the host since it started") \
	X(give_back_turns, "turns of its loop that walked or gave back")
enum {
#define X(name, help) RMAP_STATM_##name,
	RMAP_STAT_MEMORY(X)
#undef X
	RMAP_STATM_N
};
#define RMAP_STAT_MEMORY_LEN	(8u * RMAP_STATM_N)
/* The server was told to leave (LEAVE): it takes no new sessions. */
#define RMAP_STAT_LEAVING	0x0001u
/* The server keeps page tags (RMAP_F_TAGS). */
#define RMAP_STAT_TAGS		0x0002u
/*
 * Its whole capacity is in RAM, locked, since it started (--reserve).
 * Only in STAT replies to RMAP_STAT_WANT_RESERVED: never in ANNOUNCE or
 * LEAVE, which older clients read too.
 */
#define RMAP_STAT_RESERVED	0x0004u
#define RMAP_STAT_F_ALL		0x0007u

/*
 * The payload of REG: a be64 client nonce, so that a retried REG is
 * idempotent, then the session's attach secret, which a client that
 * restarted (a new address, a new epoch) shows in ATTACH to take the
 * session over.
 */
#define RMAP_SECRET_LEN		16u
#define RMAP_REG_LEN		(8u + RMAP_SECRET_LEN)
/* The payload of ATTACH: the secret given at REG. */
#define RMAP_ATTACH_LEN		RMAP_SECRET_LEN
/*
 * The payload of MOVE: the secret given at REG, then one byte: MOVABLE,
 * another client the server allows may take the session over with
 * ATTACH (a VM migrating to another host), or SETTLED, only the owner's
 * key may (as after REG).  Its reply carries no payload.
 */
#define RMAP_MOVE_LEN		(RMAP_SECRET_LEN + 1u)
#define RMAP_MOVE_SETTLED	0u
#define RMAP_MOVE_MOVABLE	1u

/* The payload of REG's and ATTACH's OK reply: how the session is kept. */
struct rmap_session_info {
	uint32_t heartbeat_ms;	/* how often the server wants to hear */
	uint32_t lease_s;	/* it keeps the pages this long in silence */
};
#define RMAP_SESSION_INFO_LEN	8u

void rmap_session_info_encode(const struct rmap_session_info *si,
			      uint8_t out[RMAP_SESSION_INFO_LEN]);
/* 0, or -EINVAL if @len is not RMAP_SESSION_INFO_LEN. */
int rmap_session_info_decode(const uint8_t *buf, size_t len,
			     struct rmap_session_info *si);

void rmap_wire_encode(const struct rmap_hdr *h, uint8_t out[RMAP_HDR_LEN]);
enum rmap_wire_err rmap_wire_decode(const uint8_t *buf, size_t len,
				    struct rmap_hdr *h);
const char *rmap_wire_strerror(enum rmap_wire_err e);
const char *rmap_type_name(unsigned type);
const char *rmap_status_name(unsigned status);

void rmap_stat_encode(const struct rmap_stat *s, uint8_t out[RMAP_STAT_LEN]);
int rmap_stat_decode(const uint8_t *buf, size_t len, struct rmap_stat *s);
/* The counters after a STAT body (RMAP_STAT_EXT_LEN bytes in all). */
void rmap_stat_counters_encode(const uint64_t c[RMAP_STATC_N], uint8_t *out);
void rmap_stat_counters_decode(const uint8_t *in, uint64_t c[RMAP_STATC_N]);
/* The dedup block (RMAP_STAT_DEDUP_LEN bytes). */
void rmap_stat_dedup_encode(const struct rmap_stat_dedup *d, uint8_t *out);
/* 0, or -1 if it cannot be true (unknown flags, unique > logical). */
int rmap_stat_dedup_decode(const uint8_t *in, struct rmap_stat_dedup *d);
/* The transport block (RMAP_STAT_TRANSPORT_LEN bytes). */
void rmap_stat_transport_encode(const uint64_t t[RMAP_STATT_N], uint8_t *out);
void rmap_stat_transport_decode(const uint8_t *in, uint64_t t[RMAP_STATT_N]);
/* The host block (RMAP_STAT_HOST_LEN bytes). */
void rmap_stat_host_encode(const uint64_t h[RMAP_STATH_N], uint8_t *out);
void rmap_stat_host_decode(const uint8_t *in, uint64_t h[RMAP_STATH_N]);
/* The sources block (RMAP_STAT_SOURCES_LEN bytes). */
void rmap_stat_sources_encode(const struct rmap_stat_sources *s, uint8_t *out);
/* 0, or -1 if it cannot be true (a family not 0, 4 or 6). */
int rmap_stat_sources_decode(const uint8_t *in, struct rmap_stat_sources *s);
/*
 * The entries of @s as text, "HOST(N),HOST(N)" most first, or "none",
 * into @out (truncated to @len, NUL-terminated).
 */
void rmap_stat_sources_text(const struct rmap_stat_sources *s, char *out,
			    size_t len);
/* The memory block (RMAP_STAT_MEMORY_LEN bytes). */
void rmap_stat_memory_encode(const uint64_t m[RMAP_STATM_N], uint8_t *out);
void rmap_stat_memory_decode(const uint8_t *in, uint64_t m[RMAP_STATM_N]);
/*
 * Could @len be the length of an OK STAT reply, some set of blocks after
 * the body?  (What the wire checks; which set, only the asker can tell.)
 */
bool rmap_stat_reply_len(size_t len);
/*
 * Which blocks an OK STAT reply of @len bytes carries, as RMAP_STAT_WANT_*
 * bits, when the request asked for @asked: false if no server could have
 * sent that length.  A server sends every block asked for that it knows,
 * in the order they were added to RMAP, and knows every block added
 * before the newest it knows; so the blocks that came are those asked for
 * among the first few, and each block more lengthens the reply.  Two sets
 * of blocks may have one length; two answers to one request never do.
 */
bool rmap_stat_reply_blocks(size_t len, uint32_t asked, uint32_t *blocks);
/* Where block @want (one RMAP_STAT_WANT_* bit) starts in a reply that
 * has @blocks. */
size_t rmap_stat_block_off(uint32_t blocks, uint32_t want);
/* The longest OK STAT reply: every block. */
#define RMAP_STAT_MAX_LEN	(RMAP_STAT_EXT_LEN + RMAP_STAT_DEDUP_LEN + \
				 RMAP_STAT_TRANSPORT_LEN + RMAP_STAT_HOST_LEN + \
				 RMAP_STAT_SOURCES_LEN + RMAP_STAT_MEMORY_LEN)

/* Payload bytes per fragment for a link MTU, over IPv4 (over IPv6, 20
 * fewer: RMAP_IP6_EXTRA). */
static inline uint32_t rmap_frag_payload(unsigned mtu)
{
	return mtu - RMAP_IP_UDP_OVERHEAD - RMAP_OVERHEAD;
}

/* Serial-number arithmetic (RFC 1982) for 32-bit sequence numbers. */
static inline int rmap_seq_before(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

/*
 * Big-endian fields: the header's (wire.c) and the sealed layers'
 * (crypt.c, and the handshake's: handshake.c, peerkeys.c, noise.c).
 */
static inline void wire_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void wire_put32(uint8_t *p, uint32_t v)
{
	wire_put16(p, (uint16_t)(v >> 16));
	wire_put16(p + 2, (uint16_t)v);
}

static inline void wire_put64(uint8_t *p, uint64_t v)
{
	wire_put32(p, (uint32_t)(v >> 32));
	wire_put32(p + 4, (uint32_t)v);
}

static inline uint16_t wire_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t wire_get32(const uint8_t *p)
{
	return (uint32_t)wire_get16(p) << 16 | wire_get16(p + 2);
}

static inline uint64_t wire_get64(const uint8_t *p)
{
	return (uint64_t)wire_get32(p) << 32 | wire_get32(p + 4);
}

#endif
