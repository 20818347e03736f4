// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fake_remote.c - remote.h over in-memory stores, answered when the test
 * says (fakes.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakes.h"
#include "pagegroup/pagegroup.h"
#include "rmap/rmap_int.h"

#define PAGE	4096u
#define TAG	RMAP_TAG_LEN
#define BLOB	(PAGE + TAG)	/* what a store keeps per page */

struct remote {
	struct fake_remote *fr;
};

struct fake_remote {
	struct remote r;
	unsigned n;
	struct remote_server *srv;
	GHashTable **store;	/* per server: (session << 40 | key) -> page
				 * and tag */
	GQueue pending;		/* struct fake_req */
	uint32_t next_sid;
	const struct remote_ops *ops;
	void *ops_arg;
	struct rmap_counters ctr;
	struct evl *loop;
	struct evl_hook hook;
	struct evl *sqe_loop;	/* fake_remote_queue_sqes */
	uint64_t turn, *srv_turn;	/* as RMAP's ep->turn, req_turn */
	void (*on_call)(struct fake_req *q, void *arg);
	void *on_call_arg;
	bool hooked;
	bool cut_off;
	unsigned attached;
	uint64_t sent[RMAP_T_MAX + 1];
	uint64_t bad;
	bool held[RMAP_T_MAX + 1];
};

static uint64_t skey(uint32_t sid, uint64_t key)
{
	return (uint64_t)sid << 40 | key;
}

struct fake_remote *fake_remote_new(unsigned nservers)
{
	struct fake_remote *fr = calloc(1, sizeof(*fr));

	fr->r.fr = fr;
	fr->n = nservers;
	fr->srv = calloc(nservers ? nservers : 1, sizeof(*fr->srv));
	fr->store = calloc(nservers ? nservers : 1, sizeof(*fr->store));
	fr->srv_turn = calloc(nservers ? nservers : 1, sizeof(*fr->srv_turn));
	fr->turn = 1;
	g_queue_init(&fr->pending);
	fr->next_sid = 1;
	for (unsigned i = 0; i < nservers; i++) {
		char name[32];

		snprintf(name, sizeof(name), "10.0.0.%u", 10 + i);
		fr->srv[i].name = strdup(name);
		fr->srv[i].reachable = fr->srv[i].heard = true;
		/* A peer for what the status reads of it (its RTT). */
		fr->srv[i].peer = calloc(1, sizeof(struct rmap_peer));
		fr->srv[i].capacity_pages = 1u << 20;
		fr->store[i] = g_hash_table_new_full(g_int64_hash,
						     g_int64_equal, g_free,
						     g_free);
	}
	return fr;
}

static void hook_run(struct evl *loop, struct evl_hook *h)
{
	struct fake_remote *fr = evl_container_of(h, struct fake_remote, hook);

	(void)loop;
	fr->turn++;		/* as RMAP's flush before the loop sleeps */
	fake_remote_drain(fr);
}

void fake_remote_auto(struct fake_remote *fr, struct evl *loop, bool on)
{
	if (on && !fr->hooked) {
		fr->loop = loop;
		fr->hook.run = hook_run;
		evl_add_hook(loop, &fr->hook);
	} else if (!on && fr->hooked) {
		evl_remove_hook(fr->loop, &fr->hook);
	}
	fr->hooked = on;
}

void fake_remote_queue_sqes(struct fake_remote *fr, struct evl *loop)
{
	fr->sqe_loop = loop;
}

void fake_remote_on_call(struct fake_remote *fr,
			 void (*fn)(struct fake_req *q, void *arg), void *arg)
{
	fr->on_call = fn;
	fr->on_call_arg = arg;
}

static void req_free(struct fake_req *q)
{
	free(q->payload);
	free(q);
}

void fake_remote_cancel(struct fake_remote *fr)
{
	struct fake_req *q;

	while ((q = g_queue_pop_head(&fr->pending))) {
		if (q->fn)
			q->fn(q->arg, -ECANCELED, 0);
		req_free(q);
	}
}

void fake_remote_free(struct fake_remote *fr)
{
	fake_remote_auto(fr, fr->loop, false);
	fake_remote_cancel(fr);
	for (unsigned i = 0; i < fr->n; i++) {
		free(fr->srv[i].name);
		free(fr->srv[i].peer);
		g_hash_table_destroy(fr->store[i]);
	}
	free(fr->srv);
	free(fr->store);
	free(fr->srv_turn);
	free(fr);
}

struct remote *fake_remote(struct fake_remote *fr)
{
	return &fr->r;
}

GQueue *fake_remote_pending(struct fake_remote *fr)
{
	return &fr->pending;
}

struct fake_req *fake_remote_find(struct fake_remote *fr, uint8_t type)
{
	for (GList *l = fr->pending.head; l; l = l->next) {
		struct fake_req *q = l->data;

		if ((!type || q->type == type) && !q->answer_lost)
			return q;
	}
	return NULL;
}

static uint8_t *get(struct fake_remote *fr, unsigned s, uint32_t sid,
		    uint64_t key)
{
	uint64_t k = skey(sid, key);

	return g_hash_table_lookup(fr->store[s], &k);
}

static void put(struct fake_remote *fr, unsigned s, uint32_t sid,
		uint64_t key, const uint8_t *data)
{
	uint64_t *k = g_new(uint64_t, 1);

	*k = skey(sid, key);
	g_hash_table_insert(fr->store[s], k, g_memdup2(data, BLOB));
}

static void del(struct fake_remote *fr, unsigned s, uint32_t sid,
		uint64_t key)
{
	uint64_t k = skey(sid, key);

	g_hash_table_remove(fr->store[s], &k);
}

static bool all_zero(const uint8_t *p)
{
	for (unsigned i = 0; i < BLOB; i++)
		if (p[i])
			return false;
	return true;
}

static void xor_blob(uint8_t *dst, const uint8_t *src)
{
	for (unsigned i = 0; i < BLOB; i++)
		dst[i] ^= src[i];
}

/*
 * Carry out @q on its server's store, as memxd --server does: with
 * RMAP_F_TAGS, the payload and the answer are @count pages then @count
 * tags, and tags are XORed as pages are.
 */
static uint8_t execute(struct fake_remote *fr, struct fake_req *q)
{
	uint8_t *out = q->buf;
	unsigned s = q->server;
	bool tags = q->flags & RMAP_F_TAGS;
	size_t toff = (size_t)q->count * PAGE;

	if (q->type == RMAP_T_READ)
		for (uint32_t i = 0; i < q->count; i++)
			if (!get(fr, s, q->session, q->key + i))
				return RMAP_S_NOENT;
	for (uint32_t i = 0; i < q->count; i++) {
		uint64_t key = q->key + i;
		uint8_t *old = get(fr, s, q->session, key);
		uint8_t in[BLOB], cur[BLOB];

		memset(cur, 0, BLOB);
		if (old)
			memcpy(cur, old, BLOB);
		memset(in, 0, BLOB);
		if (q->payload) {
			memcpy(in, q->payload + i * PAGE, PAGE);
			if (tags)
				memcpy(in + PAGE, q->payload + toff + i * TAG,
				       TAG);
		}
		switch (q->type) {
		case RMAP_T_READ:
		case RMAP_T_READZ:
		case RMAP_T_XFREE:
			break;
		case RMAP_T_WRITE:
			put(fr, s, q->session, key, in);
			break;
		case RMAP_T_XWRITE:
			put(fr, s, q->session, key, in);
			xor_blob(cur, in);	/* old ^ new */
			break;
		case RMAP_T_FREE:
			del(fr, s, q->session, key);
			break;
		case RMAP_T_PXOR:
			xor_blob(cur, in);
			if (all_zero(cur))
				del(fr, s, q->session, key);
			else
				put(fr, s, q->session, key, cur);
			break;
		default:
			break;
		}
		if (q->type == RMAP_T_READ || q->type == RMAP_T_READZ ||
		    q->type == RMAP_T_XWRITE || q->type == RMAP_T_XFREE) {
			memcpy(out + i * PAGE, cur, PAGE);
			if (tags)
				memcpy(out + toff + i * TAG, cur + PAGE, TAG);
		}
		if (q->type == RMAP_T_XFREE)
			del(fr, s, q->session, key);
	}
	return RMAP_S_OK;
}

void fake_remote_complete(struct fake_remote *fr, struct fake_req *q,
			  int err, uint8_t status)
{
	g_queue_remove(&fr->pending, q);
	if (!err && fr->srv[q->server].dead)
		err = -EHOSTUNREACH;
	if (!err && !status)
		status = execute(fr, q);
	if (q->fn)
		q->fn(q->arg, err, status);
	req_free(q);
}

void fake_remote_hold(struct fake_remote *fr, uint8_t type, bool on)
{
	fr->held[type] = on;
}

static struct fake_req *next_unheld(struct fake_remote *fr)
{
	for (GList *l = fr->pending.head; l; l = l->next) {
		struct fake_req *q = l->data;

		if (!fr->held[q->type] && !q->held && !q->answer_lost)
			return q;
	}
	return NULL;
}

void fake_remote_lose(struct fake_remote *fr, struct fake_req *q)
{
	if (!fr->srv[q->server].dead)
		execute(fr, q);
	q->answer_lost = true;
}

unsigned fake_remote_drain(struct fake_remote *fr)
{
	unsigned n = 0;
	struct fake_req *q;

	while ((q = next_unheld(fr))) {
		fake_remote_complete(fr, q, 0, 0);
		n++;
	}
	return n;
}

void fake_remote_kill(struct fake_remote *fr, unsigned idx)
{
	struct remote_server *s = &fr->srv[idx];

	s->dead = true;
	s->reachable = false;
	s->st.deaths++;
	g_hash_table_remove_all(fr->store[idx]);
	if (fr->ops && fr->ops->server_failed)
		fr->ops->server_failed(fr->ops_arg, idx, "killed by the test");
	if (fr->ops && fr->ops->server_changed)
		fr->ops->server_changed(fr->ops_arg, idx);
}

const uint8_t *fake_remote_page(struct fake_remote *fr, unsigned idx,
				uint32_t sid, uint64_t key)
{
	return get(fr, idx, sid, key);
}

bool fake_remote_flip(struct fake_remote *fr, unsigned idx, uint32_t sid,
		      uint64_t key, unsigned bit)
{
	uint8_t *p = get(fr, idx, sid, key);

	if (p)
		p[bit / 8 % PAGE] ^= (uint8_t)(1u << (bit % 8));
	return p;
}

bool fake_remote_copy(struct fake_remote *fr, unsigned idx, uint32_t sid,
		      uint64_t from, uint64_t key)
{
	uint8_t *p = get(fr, idx, sid, from);

	if (p)
		put(fr, idx, sid, key, p);
	return p;
}

uint8_t *fake_remote_save(struct fake_remote *fr, unsigned idx, uint32_t sid,
			  uint64_t key)
{
	uint8_t *p = get(fr, idx, sid, key);

	return p ? g_memdup2(p, BLOB) : NULL;
}

void fake_remote_restore(struct fake_remote *fr, unsigned idx, uint32_t sid,
			 uint64_t key, const uint8_t *saved)
{
	put(fr, idx, sid, key, saved);
}

uint64_t fake_remote_bad(struct fake_remote *fr)
{
	return fr->bad;
}

uint64_t fake_remote_stored(struct fake_remote *fr, unsigned idx)
{
	return g_hash_table_size(fr->store[idx]);
}

unsigned fake_remote_attached(struct fake_remote *fr)
{
	return fr->attached;
}

uint64_t fake_remote_sent(struct fake_remote *fr, uint8_t type)
{
	uint64_t n = 0;

	if (type)
		return fr->sent[type];
	for (unsigned i = 0; i <= RMAP_T_MAX; i++)
		n += fr->sent[i];
	return n;
}

/* ---- remote.h ---- */

/* @s is session @id now, and its record says so (as remote_session.c does). */
static void session_set(struct remote_session *s, uint32_t id)
{
	s->id = id;
	if (s->rec) {
		s->rec->id = id;
		memcpy(s->rec->secret, s->secret, RMAP_SECRET_LEN);
	}
}


void remote_set_ops(struct remote *r, const struct remote_ops *ops, void *arg)
{
	r->fr->ops = ops;
	r->fr->ops_arg = arg;
}

unsigned remote_count(const struct remote *r)
{
	return r->fr->n;
}

const struct remote_server *remote_server(const struct remote *r,
					  unsigned idx)
{
	return &r->fr->srv[idx];
}

bool remote_cut_off(const struct remote *r, uint64_t *since_ns)
{
	if (since_ns)
		*since_ns = 0;
	return r->fr->cut_off;
}

void remote_session_attach(struct remote *r, struct remote_session *s,
			   unsigned idx, uint32_t id, const uint8_t *secret)
{
	s->r = r;
	s->server = idx;
	memcpy(s->secret, secret, RMAP_SECRET_LEN);
	/* The server takes the session over only with the right secret. */
	for (unsigned i = 0; i < RMAP_SECRET_LEN; i++)
		if (secret[i] != (uint8_t)(id * 31 + i))
			return;
	r->fr->attached++;
	session_set(s, id);
}

static void tell_changed(struct fake_remote *fr, unsigned idx)
{
	if (fr->ops && fr->ops->server_changed)
		fr->ops->server_changed(fr->ops_arg, idx);
}

void fake_remote_silence(struct fake_remote *fr, unsigned idx, bool silent,
			 bool down)
{
	fr->srv[idx].reachable = !silent;
	fr->srv[idx].down = silent && down;
	tell_changed(fr, idx);
}

void fake_remote_cut(struct fake_remote *fr, bool cut)
{
	fr->cut_off = cut;
	for (unsigned i = 0; i < fr->n; i++) {
		fr->srv[i].reachable = !cut;
		tell_changed(fr, i);
	}
}

void fake_remote_usage(struct fake_remote *fr, unsigned idx,
		       uint64_t capacity, uint64_t used, uint64_t freeing)
{
	fr->srv[idx].capacity_pages = capacity;
	fr->srv[idx].used_pages = used;
	fr->srv[idx].freeing_pages = freeing;
	tell_changed(fr, idx);
}

int remote_find(const struct remote *r, const char *name)
{
	for (unsigned i = 0; i < r->fr->n; i++)
		if (!strcmp(r->fr->srv[i].name, name))
			return (int)i;
	return -1;
}

const struct rmap_counters *remote_counters(const struct remote *r)
{
	return &r->fr->ctr;
}

unsigned remote_pending(const struct remote *r)
{
	return g_queue_get_length(&r->fr->pending);
}

void remote_new_turn(struct remote *r)
{
	r->fr->turn++;
}

/* No datagrams: nothing seals them. */
void remote_cipher(const struct remote *r, const char **cipher,
		   const char **library)
{
	(void)r;
	*cipher = "none";
	*library = "none";
}


void remote_session_open(struct remote *r, struct remote_session *s,
			 unsigned idx)
{
	s->r = r;
	s->server = idx;
	if (r->fr->srv[idx].dead)
		return;
	for (unsigned i = 0; i < RMAP_SECRET_LEN; i++)
		s->secret[i] = (uint8_t)(r->fr->next_sid * 31 + i);
	session_set(s, r->fr->next_sid++);
}

void remote_session_close(struct remote *r, struct remote_session *s)
{
	struct fake_remote *fr = r->fr;
	GHashTableIter it;
	gpointer k;

	if (s->id) {
		/* UNREG: the server frees everything of the session. */
		s->rec = s->rec ? (s->rec->id = 0, s->rec) : NULL;
		g_hash_table_iter_init(&it, fr->store[s->server]);
		while (g_hash_table_iter_next(&it, &k, NULL))
			if (*(uint64_t *)k >> 40 == s->id)
				g_hash_table_iter_remove(&it);
	}
	s->id = 0;
	s->r = NULL;
}

void remote_session_detach(struct remote *r, struct remote_session *s)
{
	(void)r;
	s->rec = NULL;		/* no UNREG: the pages stay */
	s->id = 0;
	s->r = NULL;
}

void remote_count_bad(struct remote *r, unsigned idx, uint32_t n)
{
	r->fr->srv[idx].st.bad_pages += n;
	r->fr->bad += n;
}

int remote_call(struct remote *r, struct remote_session *s, uint8_t type,
		uint16_t flags, uint64_t page, uint32_t count,
		const struct iovec *iov, int iovcnt, void *buf, uint32_t cap,
		remote_done_fn fn, void *arg)
{
	struct fake_remote *fr = r->fr;
	struct fake_req *q;
	size_t len = 0;

	if (!s->id)
		return -ENOTCONN;
	q = calloc(1, sizeof(*q));
	*q = (struct fake_req){ .server = s->server, .session = s->id,
				.type = type, .flags = flags, .key = page,
				.count = count, .buf = buf, .cap = cap, .fn = fn,
				.arg = arg };
	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	if (len) {
		q->payload = malloc(len);
		len = 0;
		for (int i = 0; i < iovcnt; i++) {
			memcpy(q->payload + len, iov[i].iov_base,
			       iov[i].iov_len);
			len += iov[i].iov_len;
		}
	}
	fr->sent[type]++;
	q->at_once = fr->srv_turn[s->server] != fr->turn;
	fr->srv_turn[s->server] = fr->turn;
	g_queue_push_tail(&fr->pending, q);
	if (fr->sqe_loop)
		io_uring_prep_nop(evl_sqe(fr->sqe_loop, NULL));
	if (fr->on_call)
		fr->on_call(q, fr->on_call_arg);
	return 0;
}

int remote_leave(struct remote *r, unsigned idx, remote_done_fn fn, void *arg)
{
	(void)fn;
	(void)arg;
	r->fr->srv[idx].drained = true;
	return 0;
}

/* MOVE, as a request without pages: the fake server always agrees. */
struct move_ctx {
	void (*done)(void *arg, int err);
	void *arg;
};

static void move_answered(void *arg, int err, uint8_t status)
{
	struct move_ctx *c = arg;

	c->done(c->arg, err ? err : status ? -EPERM : 0);
	free(c);
}

int remote_session_move(struct remote *r, struct remote_session *s,
			unsigned idx, bool movable,
			void (*done)(void *arg, int err), void *arg)
{
	struct move_ctx *c = malloc(sizeof(*c));
	int ret;

	(void)idx;
	(void)movable;
	*c = (struct move_ctx){ done, arg };
	ret = remote_call(r, s, RMAP_T_MOVE, 0, 0, 0, NULL, 0, NULL, 0,
			  move_answered, c);
	if (ret)
		free(c);
	return ret;
}
