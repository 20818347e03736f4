// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * rmap_sync.c - memxctl's synchronous RMAP calls: one request, and the
 * event loop run until its answer, for the commands that need no more.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void sync_done(void *arg, int err, const struct rmap_msg *m)
{
	struct sync_call *sc = arg;

	sc->done = true;
	sc->err = err;
	if (m) {
		sc->status = m->status;
		sc->session = m->session;
		sc->len = m->len;
	}
}

int call_sync(struct cli *c, struct srv *s, const struct rmap_req *req,
		     void *buf, uint32_t cap, struct sync_call *sc)
{
	int ret;

	memset(sc, 0, sizeof(*sc));
	ret = rmap_call(c->ep, s->peer, req, buf, cap, sync_done, sc);
	if (ret)
		return ret;
	while (!sc->done) {
		ret = evl_run_once(c->loop, -1);
		if (ret < 0)
			return ret;
	}
	return sc->err;
}

int srv_open(struct cli *c, struct srv *s, const char *name)
{
	struct sockaddr_storage addr;
	int ret;

	s->name = name;
	ret = rmap_parse_addr(name, RMAP_DEFAULT_PORT, &addr);
	if (ret) {
		fprintf(stderr, "memxctl: cannot resolve '%s'\n", name);
		return ret;
	}
	s->peer = rmap_peer_get(c->ep, &addr);
	return s->peer ? 0 : -ENOMEM;
}

int srv_register(struct cli *c, struct srv *s)
{
	uint8_t body[RMAP_REG_LEN], reply[RMAP_SESSION_INFO_LEN];
	struct iovec iov = { body, sizeof(body) };
	struct rmap_req req = { .type = RMAP_T_REG, .iov = &iov, .iovcnt = 1 };
	struct rmap_session_info si;
	struct sync_call sc;
	int ret;

	/* A nonce and an attach secret memxctl never uses. */
	for (unsigned i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)rand();
	ret = call_sync(c, s, &req, reply, sizeof(reply), &sc);
	if (ret) {
		fprintf(stderr, "memxctl: %s: %s\n", s->name,
			ret == -EHOSTUNREACH ? "peer unreachable (no answer "
			"after all retries)" : strerror(-ret));
		return ret;
	}
	if (sc.status) {
		fprintf(stderr, "memxctl: %s refused the session: %s\n",
			s->name, rmap_status_name(sc.status));
		return -EPERM;
	}
	s->session = sc.session;
	s->heartbeat_ms = rmap_session_info_decode(reply, sc.len, &si) ? 1000
		: si.heartbeat_ms;
	return 0;
}

void srv_unregister(struct cli *c, struct srv *s)
{
	struct rmap_req req = { .type = RMAP_T_UNREG, .session = s->session };
	struct sync_call sc;

	if (s->session)
		call_sync(c, s, &req, NULL, 0, &sc);
	s->session = 0;
}
