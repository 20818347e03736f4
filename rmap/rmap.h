/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rmap.h - RMAP, the reliable memory access protocol, over UDP.
 *
 * An endpoint is one UDP socket driven by an evloop.  It talks to peers;
 * to each it keeps a fixed transmit window of unacknowledged packets,
 * accepts acknowledgements in any order, retransmits after a per-packet
 * retry interval (with bounded retries, then declares the peer
 * unreachable), suppresses duplicates, and fragments messages to the MTU.
 *
 * On top of that reliable datagram service sit requests and replies:
 * a client calls rmap_call() and gets its reply (or an error) in a
 * callback; a server receives requests in its request callback and
 * answers with rmap_reply().  Messages are delivered as soon as they
 * are whole, in any order.
 *
 * The tunables are the Anemone paper's: window size, retransmit timeout
 * (how often unacknowledged packets are checked), per-packet retry
 * interval, and inter-packet gap.
 */
#ifndef MEMX_RMAP_H
#define MEMX_RMAP_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "evloop.h"
#include "wire.h"

struct rmap_ep;
struct rmap_peer;

/*
 * Authentication (rmap(7), AUTHENTICATION).  Each host has a static
 * X25519 key pair and a list of the peers it allows, by public key, as
 * WireGuard does; a peer that also has an address is one we may open a
 * conversation with (a memory server).  Optionally a pre-shared key that
 * every member of the cluster holds.  A Noise IKpsk2 handshake runs before
 * any state is kept for a peer; every datagram after it is sealed with
 * AES-256-GCM (where the CPU has AES-NI) or ChaCha20-Poly1305.
 */
#define RMAP_KEY_LEN		32u
#define RMAP_KEY_B64_LEN	45u	/* 44 characters and a NUL */

struct rmap_peer_key {
	uint8_t pub[RMAP_KEY_LEN];
	bool has_addr;
	struct sockaddr_storage addr;	/* where it serves, if has_addr */
};

struct rmap_auth {
	bool insecure;		/* no authentication and no encryption */
	bool have_key;
	uint8_t private_key[RMAP_KEY_LEN];
	bool have_psk;
	uint8_t psk[RMAP_KEY_LEN];
	struct rmap_peer_key *peers;	/* allowed peers (copied by ep_open) */
	unsigned npeers;
	/*
	 * Handshake initiations per second answered without a cookie; past
	 * that the endpoint is under load and wants the stateless cookie
	 * round trip first.  0: always (for tests).
	 */
	unsigned hs_per_s;
	bool no_aes;		/* ChaCha20-Poly1305 even where AES-NI is */
};

#define RMAP_DEFAULT_HS_PER_S	200u

/* A fresh private key; 0 or -errno. */
int rmap_key_generate(uint8_t priv[RMAP_KEY_LEN]);
/* The public key of @priv. */
int rmap_key_public(const uint8_t priv[RMAP_KEY_LEN],
		    uint8_t pub[RMAP_KEY_LEN]);
/* Keys as text: 44 characters of base64, as wg(8) prints them. */
void rmap_key_to_base64(const uint8_t key[RMAP_KEY_LEN],
			char out[RMAP_KEY_B64_LEN]);
int rmap_key_from_base64(const char *s, uint8_t key[RMAP_KEY_LEN]);
/*
 * Read a key file (one base64 key, as written by memxd --genkey), which
 * must not be readable by others if @secret; 0, or -errno with a reason
 * in @why.
 */
int rmap_key_load(const char *path, bool secret, uint8_t key[RMAP_KEY_LEN],
		  char *why, size_t len);
/*
 * Read a peers file: one peer a line, "PUBLIC-KEY [HOST[:PORT]]"; '#'
 * starts a comment.  Appends to @a->peers; 0, or -errno with a reason
 * (file and line) in @why.
 */
int rmap_peers_load(struct rmap_auth *a, const char *path, char *why,
		    size_t len);
void rmap_auth_free(struct rmap_auth *a);

struct rmap_config {
	unsigned window;	/* packets in flight per peer (1..1024) */
	/*
	 * The link MTU messages are fragmented for, RMAP_MIN_MTU..
	 * RMAP_MAX_MTU, or RMAP_MTU_AUTO: each peer's, the MTU of the
	 * route to it (the device's, or a smaller one the kernel learnt for
	 * the path), looked up before the first message to it and again
	 * once it is RMAP_MTU_RECHECK_S old, or at once when the kernel
	 * refuses a GSO run as too large for the route.  A receiver takes
	 * fragments of any size up to RMAP_MAX_MTU, so the two ends need
	 * not agree.
	 */
	unsigned mtu;
	unsigned rto_us;	/* retransmit timer: how often to look */
	unsigned retry_us;	/* first per-packet retry interval */
	unsigned retry_max_us;	/* retry interval doubles up to this */
	unsigned gap_us;	/* inter-packet gap; 0 sends back to back */
	unsigned max_retries;	/* then the peer is unreachable; 0: never
				 * give up (retry every retry_max_us until
				 * the peer answers or is dropped) */
	bool broadcast;		/* allow sending to broadcast addresses */
	/*
	 * Let other sockets bind the same fixed port (SO_REUSEADDR), as
	 * memxctl discover does where announcements come.  Otherwise the
	 * port is the endpoint's alone: a second memxd on it is refused
	 * rather than left to take the first one's datagrams.
	 */
	bool share_port;
	/*
	 * Per-peer bounds on what a peer can make us hold.  Requests from a
	 * peer whose replies already queue more than peer_queue_max bytes,
	 * and fragments that would take its reassembly buffers past
	 * peer_reasm_max, are not acknowledged (counted as limit_drops): a
	 * genuine sender sends them again once there is room.
	 */
	size_t peer_queue_max;
	size_t peer_reasm_max;
	struct rmap_auth auth;
};

#define RMAP_DEFAULT_WINDOW	256u
#define RMAP_MTU_AUTO		0u
#define RMAP_DEFAULT_MTU	RMAP_MTU_AUTO
#define RMAP_FALLBACK_MTU	1500u	/* auto, where the route says nothing */
#define RMAP_MTU_RECHECK_S	5u	/* auto: how old a route's MTU may get */
#define RMAP_DEFAULT_RTO_US	1000u
#define RMAP_DEFAULT_RETRY_US	2000u
#define RMAP_DEFAULT_RETRY_MAX_US 200000u
#define RMAP_DEFAULT_GAP_US	0u
#define RMAP_DEFAULT_RETRIES	10u
#define RMAP_DEFAULT_PEER_QUEUE_MAX	(32u << 20)
#define RMAP_DEFAULT_PEER_REASM_MAX	(16u << 20)
#define RMAP_RCV_WINDOW		RMAP_MAX_WINDOW

void rmap_config_default(struct rmap_config *cfg);
/* 0, or -EINVAL with a reason in @why. */
int rmap_config_check(const struct rmap_config *cfg, char *why, size_t len);

/* A whole message, as delivered to a request or reply callback. */
struct rmap_msg {
	struct rmap_peer *peer;
	uint8_t type;
	uint8_t status;
	uint16_t flags;
	uint32_t session;
	uint32_t reqid;
	uint64_t page;
	uint32_t count;
	const uint8_t *data;	/* valid only during the callback */
	uint32_t len;
};

/* What a client sends. */
struct rmap_req {
	uint8_t type;
	uint32_t session;
	uint64_t page;
	uint32_t count;
	const struct iovec *iov;	/* request payload (WRITE data) */
	int iovcnt;
	uint16_t flags;			/* 0 or RMAP_F_TAGS */
};

/*
 * Reply callback.  @err is 0 and @resp the reply, or -EHOSTUNREACH
 * (retries exhausted), -ECONNRESET (the peer restarted), -ECANCELED
 * (endpoint closed), -EMSGSIZE (reply larger than the buffer), -EBADMSG
 * (the peer answered for another page run: nothing was placed).
 * For a READ, the payload has already been placed in the caller's buffer.
 */
typedef void (*rmap_reply_fn)(void *arg, int err, const struct rmap_msg *resp);

/* Server side: a request arrived (@msg->flags lacks RMAP_F_RESPONSE). */
typedef void (*rmap_request_fn)(struct rmap_ep *ep, const struct rmap_msg *msg,
				void *arg);
/* Unreliable ANNOUNCE from anyone (discovery).  @from is its source. */
typedef void (*rmap_announce_fn)(struct rmap_ep *ep,
				 const struct sockaddr_storage *from,
				 const struct rmap_stat *st, void *arg);
/*
 * A peer's state changed: unreachable (-EHOSTUNREACH), restarted
 * (-ECONNRESET) or reachable again (0).  The callback may call, but must
 * not drop peers or close the endpoint.  On a restart it runs before the
 * calls that were in flight to the peer fail with -ECONNRESET.
 */
typedef void (*rmap_peer_fn)(struct rmap_ep *ep, struct rmap_peer *peer,
			     int err, void *arg);
/*
 * The route to @peer changed MTU (mtu auto): messages to it are cut for
 * rmap_peer_mtu() from now on, where they were cut for @old_mtu.  It is
 * found on the send path, so the callback may only look (log, count):
 * it must not call, send, drop peers or close the endpoint.
 */
typedef void (*rmap_mtu_fn)(struct rmap_ep *ep, struct rmap_peer *peer,
			    unsigned old_mtu, void *arg);

struct rmap_handlers {
	rmap_request_fn request;	/* NULL: requests answered UNSUPP */
	rmap_announce_fn announce;
	rmap_peer_fn peer_state;
	rmap_mtu_fn mtu_changed;	/* NULL: only counted (mtu_changes) */
	void *arg;
	/*
	 * Accept requests from addresses never seen before?  A server does
	 * (REG creates the session); a client does not, and counts and drops
	 * such packets as from an unknown peer.  With authentication, a new
	 * peer exists only once its handshake was authenticated.
	 */
	bool accept_new_peers;
	/*
	 * Deliver ANNOUNCEs even with authentication on, where they are not
	 * authenticated (memxctl discover); otherwise they are ignored.
	 */
	bool unauth_announce;
};

/*
 * The counters below that count a datagram refused: forged, replayed,
 * malformed or unwelcome, with what each is in words (as logs say it).
 */
#define RMAP_REFUSALS(X)						\
	X(auth_failures, "unauthenticated")				\
	X(replays, "replayed")						\
	X(bad_total, "malformed")					\
	X(unknown_peer, "from unknown peers")				\
	X(limit_drops, "over a per-peer bound")				\
	X(cookie_challenges, "handshakes answered with a cookie (under load)")

/*
 * Where refused datagrams said they came from: the source host (the port
 * is not kept) of the last few, each with a count.  A source address is
 * not authenticated; it may be forged.
 */
#define RMAP_REFUSED_SOURCES	4
struct rmap_refused_source {
	struct sockaddr_storage host;	/* port 0; ss_family 0: unused */
	uint64_t count;		/* refused from it since the entry began */
	uint64_t serial;	/* which entry: a host that comes back after
				 * its entry was reused gets a new one */
	uint64_t last;		/* refused_serial when last counted */
};

/* Counters, per endpoint.  Drops are counted by reason, never silent. */
struct rmap_counters {
	uint64_t tx_packets, tx_bytes, rx_packets, rx_bytes;
	uint64_t tx_msgs, rx_msgs;
	uint64_t retransmits, fast_retransmits, dup_packets;
	uint64_t acks_sent, unknown_peer, stale_reply, window_drops;
	uint64_t peer_resets, unreachable, send_errors, recv_errors;
	uint64_t tx_sends;	/* sendmsg()s: tx_packets / tx_sends per send */
	uint64_t gso_sends;	/* sends that carried several packets */
	uint64_t tx_padded;	/* last fragments padded to go on a run */
	uint64_t rx_recvs;	/* receives: GRO hands several datagrams in one */
	uint64_t limit_drops;	/* refused for a per-peer bound (not acked) */
	/* Authentication: what was refused, in silence, and why. */
	uint64_t auth_failures;	/* failed to authenticate (MAC, key, index,
				 * address, or clear text where keys are
				 * required) */
	uint64_t replays;	/* authentic but seen before (counter, or a
				 * handshake's timestamp) */
	uint64_t cookie_challenges;	/* under load: cookies sent */
	uint64_t handshakes;	/* completed, either side */
	uint64_t handshake_inits;	/* initiations sent */
	uint64_t unauth_announces;	/* ANNOUNCEs ignored: not authenticated */
	uint64_t reply_mismatch;	/* a reply whose page run differs from
					 * its request's: the request fails
					 * with EBADMSG */
	uint64_t mtu_changes;	/* a peer's route MTU, looked up again,
				 * had changed */
	uint64_t bad[RMAP_WIRE_NERR];
	uint64_t bad_total;
	/* By source host: when all four are taken, the one refused least
	 * lately gives way.  refused_serial counts the refused datagrams
	 * noted here (rx.c), and numbers the entries. */
	struct rmap_refused_source refused_from[RMAP_REFUSED_SOURCES];
	uint64_t refused_serial;
};

/* How many datagrams @c counts as refused (RMAP_REFUSALS), all told. */
static inline uint64_t rmap_refused_total(const struct rmap_counters *c)
{
	uint64_t n = 0;

#define X(field, words) n += c->field;
	RMAP_REFUSALS(X)
#undef X
	return n;
}

/*
 * The hosts @c holds refused datagrams from, as a STAT reply carries them
 * (wire.h, RMAP_STAT_WANT_SOURCES): most refused first, and as others
 * what no entry holds (hosts the table let go, datagrams refused before
 * their source was known).
 */
void rmap_refused_sources(const struct rmap_counters *c,
			  struct rmap_stat_sources *out);

/*
 * Test hook: decide the fate of each outgoing datagram.  Return 0 to drop
 * it, 1 to send it, 2 to send it twice.
 */
typedef int (*rmap_tx_filter_fn)(const struct rmap_hdr *h, void *arg);

int rmap_ep_open(struct rmap_ep **ep, struct evl *loop,
		 const struct sockaddr *bind_addr, socklen_t bind_len,
		 const struct rmap_config *cfg,
		 const struct rmap_handlers *handlers);
/* Fails every pending call with -ECANCELED, then frees everything. */
void rmap_ep_close(struct rmap_ep *ep);
uint16_t rmap_ep_port(const struct rmap_ep *ep);
/*
 * In a handler: when the datagrams being handled were taken from the
 * socket, on evl_now_ns()'s clock.  Cheaper than reading the clock
 * again for every message of a batch.
 */
uint64_t rmap_ep_rx_ns(const struct rmap_ep *ep);
/*
 * The smaller of the socket's receive and send buffers, in bytes: each
 * asks for RMAP_SOCKBUF, and gets less where net.core.rmem_max or
 * wmem_max caps it and the process lacks CAP_NET_ADMIN to pass the cap.
 * rmap_ep_sockbuf_short: true, and a sentence in @why for the log that
 * says so and what to do, if it got less.
 */
#define RMAP_SOCKBUF	(8u << 20)
size_t rmap_ep_sockbuf(const struct rmap_ep *ep);
bool rmap_ep_sockbuf_short(const struct rmap_ep *ep, char *why, size_t len);
const struct rmap_counters *rmap_ep_counters(const struct rmap_ep *ep);
void rmap_ep_set_tx_filter(struct rmap_ep *ep, rmap_tx_filter_fn fn, void *arg);
/*
 * Test hook: feed one datagram, as if it had arrived from @from, through
 * the normal receive path (decode, count, deliver).  For tests and fuzzers.
 */
void rmap_ep_inject_rx(struct rmap_ep *ep, const uint8_t *buf, size_t len,
		       const struct sockaddr_storage *from);
/*
 * Test hook (fuzzers): feed one message header and fragment, in clear, as
 * if it had just been decrypted from @from, a peer that completed a
 * handshake with static key @pub (which must be an allowed peer's; the
 * peer is made if need be, as a handshake would).  Returns 0 or -errno.
 */
int rmap_ep_inject_plain(struct rmap_ep *ep, const uint8_t *buf, size_t len,
			 const struct sockaddr_storage *from,
			 const uint8_t pub[RMAP_KEY_LEN]);
/*
 * Test hook: see (and drop, duplicate) every datagram as it leaves,
 * handshakes included: the bytes on the wire.  0 drops, 1 sends, 2 sends
 * twice.
 */
typedef int (*rmap_wire_filter_fn)(const uint8_t *dgram, size_t len,
				   void *arg);
void rmap_ep_set_wire_filter(struct rmap_ep *ep, rmap_wire_filter_fn fn,
			     void *arg);
/*
 * Allow one more peer (and, with an address, open handshakes to it) on an
 * authenticating endpoint: 0, -EINVAL (not authenticating, or not a key),
 * -ENOSPC (up to 64 may be added after rmap_ep_open).
 */
int rmap_ep_add_peer(struct rmap_ep *ep, const struct rmap_peer_key *pk);
/* Is this endpoint authenticating (not --insecure-no-auth)? */
bool rmap_ep_secure(const struct rmap_ep *ep);
/* "AES-256-GCM", "ChaCha20-Poly1305" or "none": what new sessions use. */
const char *rmap_ep_cipher(const struct rmap_ep *ep);
/*
 * The library (and code) that seals it, one word: "intel-ipsec-mb-avx512"
 * (or -avx2, -avx, -sse), "gnutls", "openssl" or "none".
 */
const char *rmap_ep_cipher_library(const struct rmap_ep *ep);
/*
 * Did intel-ipsec-mb, built in, fail its check against GnuTLS on this
 * CPU (so that GnuTLS seals AES-GCM)?  Runs the check if not yet run.
 */
bool rmap_aesgcm_fell_back(void);
/* Packets queued or unacknowledged, over all peers (0 when idle). */
unsigned rmap_ep_pending(const struct rmap_ep *ep);
/*
 * Start a new turn now, as the loop's next wake-up would: the first
 * request of a turn to a peer goes at once (its caller waits for the
 * answer), with what is queued before it; later ones wait for the turn's
 * end or a full GSO send.  For a caller that works on for long within a
 * turn, and makes requests whose callers wait in the middle of it.
 */
void rmap_ep_new_turn(struct rmap_ep *ep);

/* Look up, or create, the peer at @addr. */
struct rmap_peer *rmap_peer_get(struct rmap_ep *ep,
				const struct sockaddr_storage *addr);
struct rmap_peer *rmap_peer_find(struct rmap_ep *ep,
				 const struct sockaddr_storage *addr);
/* Forget a peer: fail its pending calls with -ECANCELED. */
void rmap_peer_drop(struct rmap_ep *ep, struct rmap_peer *peer);
/*
 * Fail @peer's pending calls with -ECANCELED and stop sending what it has
 * not acknowledged (the base field tells it so), but keep the peer and
 * its stream: later calls go on in sequence.
 */
void rmap_peer_cancel(struct rmap_ep *ep, struct rmap_peer *peer);
/* "192.0.2.1:7000" */
const char *rmap_peer_name(const struct rmap_peer *peer);
bool rmap_peer_unreachable(const struct rmap_peer *peer);
/*
 * The static public key @peer authenticated with (RMAP_KEY_LEN bytes), or
 * NULL: authentication is off, or no handshake completed yet.
 */
const uint8_t *rmap_peer_key(const struct rmap_peer *peer);
/*
 * With authentication: may we open a conversation with @peer, i.e. does
 * the peers file give the key at its address?  (Always true without.)
 */
bool rmap_peer_can_initiate(const struct rmap_peer *peer);
/* Smoothed round-trip time in microseconds (0 before the first sample). */
unsigned rmap_peer_srtt_us(const struct rmap_peer *peer);
/* The MTU messages to @peer are fragmented for (0: none sent yet). */
unsigned rmap_peer_mtu(const struct rmap_peer *peer);
/*
 * How the stream to @peer stands, in one line for a log (at most @len
 * bytes with its NUL): packets in flight and queued, how long the oldest
 * unacknowledged one has waited and how often it went, when @peer was
 * last heard, and its keys.
 */
void rmap_peer_describe(const struct rmap_peer *peer, char *buf, size_t len);

/*
 * Send a request to @peer.  The reply payload (READ data, STAT body) is
 * copied into @resp_buf, which must hold @resp_cap bytes and stay valid
 * until @fn runs.  Returns 0 (fn will run exactly once, never from inside
 * this call) or -errno (fn will not run; -ENOKEY: authentication is on
 * and the peers file gives no key at @peer's address).
 */
int rmap_call(struct rmap_ep *ep, struct rmap_peer *peer,
	      const struct rmap_req *req, void *resp_buf, uint32_t resp_cap,
	      rmap_reply_fn fn, void *arg);

/*
 * Answer request @req with @status and a payload gathered from @iov.  The
 * reply echoes the request's page run and its RMAP_F_TAGS.
 */
int rmap_reply(struct rmap_ep *ep, const struct rmap_msg *req, uint8_t status,
	       uint32_t session, const struct iovec *iov, int iovcnt);

/* One unreliable ANNOUNCE datagram to @to (unicast or broadcast). */
int rmap_announce(struct rmap_ep *ep, const struct sockaddr_storage *to,
		  const struct rmap_stat *st);

/* Parse "host:port", "[v6]:port" or "host" (with @default_port). */
int rmap_parse_addr(const char *s, uint16_t default_port,
		    struct sockaddr_storage *out);
/* The length of @a's sockaddr (IPv4 or IPv6), as bind and sendmsg take it. */
socklen_t rmap_addr_len(const struct sockaddr_storage *a);
/* Format an address as rmap_peer_name() does, into @buf. */
const char *rmap_format_addr(const struct sockaddr_storage *a, char *buf,
			     size_t len);

#define RMAP_DEFAULT_PORT	7246u

#endif
