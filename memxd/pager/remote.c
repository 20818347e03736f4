// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * remote.c - the pager's endpoint to the memory servers (remote.h): made
 * and freed, what RMAP tells of its peers, and what the pager may read of
 * the servers.  Liveness, sessions and requests: remote_int.h.
 */
#include "remote.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "remote_int.h"

static int server_index(struct remote *r, struct rmap_peer *peer)
{
	for (unsigned i = 0; i < r->n; i++)
		if (r->srv[i].peer == peer)
			return (int)i;
	return -1;
}

static void on_peer_state(struct rmap_ep *ep, struct rmap_peer *peer, int err,
			  void *arg)
{
	struct remote *r = arg;
	int i = server_index(r, peer);

	(void)ep;
	if (i < 0)
		return;
	/* A new epoch: the server restarted, its memory is gone. */
	if (err == -ECONNRESET) {
		remote_server_heard(r, (unsigned)i);
		remote_server_failed(r, (unsigned)i, "it restarted", false);
	} else if (!err) {
		remote_server_heard(r, (unsigned)i);
	}
	/* -EHOSTUNREACH cannot happen: RMAP never gives up here. */
}

/* RMAP found the route to a server at another MTU (a link's MTU changed). */
static void on_mtu_changed(struct rmap_ep *ep, struct rmap_peer *peer,
			   unsigned old_mtu, void *arg)
{
	struct remote *r = arg;
	int i = server_index(r, peer);
	unsigned mtu = rmap_peer_mtu(peer);

	(void)ep;
	if (i >= 0)
		log_info("memory server %s: the route's MTU is now %u (was "
			 "%u); messages to it are cut for %u from now on",
			 r->srv[i].name, mtu, old_mtu, mtu);
}

static void on_announce(struct rmap_ep *ep, const struct sockaddr_storage *from,
			const struct rmap_stat *st, void *arg)
{
	struct remote *r = arg;
	struct rmap_peer *peer = rmap_peer_find(ep, from);
	int i = peer ? server_index(r, peer) : -1;

	if (i < 0)
		return;		/* not one of ours: discovery is opt-in */
	r->srv[i].capacity_pages = st->capacity_pages;
	r->srv[i].used_pages = st->used_pages;
	r->srv[i].load_permille = st->load_permille;
	remote_changed(r, (unsigned)i);
}

int remote_new(struct remote **out, struct evl *loop, char *const *servers,
	       const struct rmap_config *cfg, const struct remote_config *rc)
{
	struct rmap_handlers h = {
		.peer_state = on_peer_state,
		.mtu_changed = on_mtu_changed,
		.announce = on_announce,
	};
	struct sockaddr_in any = { .sin_family = AF_INET };
	struct rmap_config ep_cfg;
	struct remote *r;
	char why[320];
	unsigned n = 0;
	int ret;

	for (char *const *s = servers; s && *s; s++)
		n++;
	if (n > REMOTE_MAX_SERVERS)
		return -E2BIG;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->loop = loop;
	r->n = n;
	r->rc = *rc;
	if (!r->rc.heartbeat_ms)
		r->rc.heartbeat_ms = 500;
	if (!r->rc.dead_after)
		r->rc.dead_after = 3;
	ep_cfg = *cfg;
	/* Never give up on a message to a server: heartbeats judge it. */
	ep_cfg.max_retries = 0;
	evl_timer_init(&r->hb_timer, remote_hb_fire);
	r->srv = calloc(n ? n : 1, sizeof(*r->srv));
	h.arg = r;
	if (!r->srv) {
		ret = -ENOMEM;
		goto err;
	}
	ret = rmap_ep_open(&r->ep, loop, (struct sockaddr *)&any, sizeof(any),
			   &ep_cfg, &h);
	if (ret)
		goto err;
	if (rmap_ep_sockbuf_short(r->ep, why, sizeof(why)))
		log_warn("%s", why);
	for (unsigned i = 0; i < n; i++) {
		struct sockaddr_storage addr;

		r->srv[i].name = strdup(servers[i]);
		ret = rmap_parse_addr(servers[i], RMAP_DEFAULT_PORT, &addr);
		if (ret) {
			log_err("cannot resolve memory server '%s'", servers[i]);
			goto err;
		}
		if (addr.ss_family != AF_INET) {
			log_err("memory server '%s': only IPv4 servers are "
				"supported by the pager today", servers[i]);
			ret = -EAFNOSUPPORT;
			goto err;
		}
		r->srv[i].peer = rmap_peer_get(r->ep, &addr);
		if (!r->srv[i].peer) {
			ret = -ENOMEM;
			goto err;
		}
		/* Authentication: we must know whose key is there. */
		if (!rmap_peer_can_initiate(r->srv[i].peer)) {
			log_err("memory server '%s': the peers file gives no "
				"public key at its address (and port)",
				servers[i]);
			ret = -ENOKEY;
			goto err;
		}
	}
	refusals_init(&r->refusals, rmap_ep_counters(r->ep), evl_now_ns());
	evl_timer_arm(loop, &r->hb_timer, 0);
	*out = r;
	return 0;
err:
	remote_free(r);
	return ret;
}

void remote_free(struct remote *r)
{
	if (!r)
		return;
	evl_timer_cancel(r->loop, &r->hb_timer);
	rmap_ep_close(r->ep);
	for (unsigned i = 0; i < r->n; i++)
		free(r->srv[i].name);
	free(r->srv);
	free(r);
}

void remote_set_ops(struct remote *r, const struct remote_ops *ops, void *arg)
{
	r->ops = ops;
	r->ops_arg = arg;
}

bool remote_cut_off(const struct remote *r, uint64_t *since_ns)
{
	if (r->cut_off && since_ns)
		*since_ns = r->cut_off_since_ns;
	return r->cut_off;
}

int remote_find(const struct remote *r, const char *name)
{
	struct sockaddr_storage a, b;

	for (unsigned i = 0; i < r->n; i++)
		if (!strcmp(r->srv[i].name, name))
			return (int)i;
	/* The same address written differently (a default port). */
	if (rmap_parse_addr(name, RMAP_DEFAULT_PORT, &a))
		return -1;
	for (unsigned i = 0; i < r->n; i++)
		if (!rmap_parse_addr(r->srv[i].name, RMAP_DEFAULT_PORT, &b) &&
		    !memcmp(&a, &b, sizeof(a)))
			return (int)i;
	return -1;
}

unsigned remote_count(const struct remote *r)
{
	return r->n;
}

const struct remote_server *remote_server(const struct remote *r, unsigned i)
{
	return &r->srv[i];
}

const struct rmap_counters *remote_counters(const struct remote *r)
{
	return rmap_ep_counters(r->ep);
}

unsigned remote_pending(const struct remote *r)
{
	return rmap_ep_pending(r->ep);
}

void remote_new_turn(struct remote *r)
{
	rmap_ep_new_turn(r->ep);
}

void remote_cipher(const struct remote *r, const char **cipher,
		   const char **library)
{
	*cipher = rmap_ep_cipher(r->ep);
	*library = rmap_ep_cipher_library(r->ep);
}
