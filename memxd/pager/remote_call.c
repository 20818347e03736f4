// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * remote_call.c - requests to the memory servers (remote.h): sent, their
 * answers checked against the question, counted per server and passed
 * on.  What an answer tells of its server goes up to the liveness layer
 * (remote_liveness.c); the rest: remote_int.h.
 */
#include "remote.h"

#include <errno.h>
#include <stdlib.h>

#include "../log.h"
#include "remote_int.h"

/*
 * The open session @sid on server @idx, or NULL.  Requests in flight
 * name their session by number, never by pointer: a VM may go away
 * before its last heartbeat is answered.
 */
struct remote_session *remote_session_find(struct remote *r, unsigned idx,
					   uint32_t sid)
{
	for (struct remote_session *s = r->sessions; s; s = s->next)
		if (s->server == idx && s->id == sid && sid)
			return s;
	return NULL;
}

/*
 * Is @m the answer to @io's question?  RMAP matched it by request id; its
 * page run, its tags and, for an answer that carries pages, its length
 * must be the ones asked for too, or a short answer would leave the rest
 * of the caller's buffer unwritten.
 */
static bool reply_echoes(const struct io *io, const struct rmap_msg *m)
{
	bool data = io->type == RMAP_T_READ || io->type == RMAP_T_READZ ||
		    io->type == RMAP_T_XWRITE || io->type == RMAP_T_XFREE;

	if (m->status || !rmap_type_has_run(io->type))
		return true;
	if (m->page != io->page || m->count != io->count ||
	    (m->flags & RMAP_F_TAGS) != io->flags)
		return false;
	return !data || m->len == io->count * rmap_page_bytes(io->flags);
}

void remote_io_done(void *arg, int err, const struct rmap_msg *m)
{
	struct io *io = arg;
	struct remote *r = io->r;
	struct remote_server *srv = &r->srv[io->idx];
	uint8_t status = m ? m->status : 0;

	/* RMAP fails a call its server answered for another run. */
	if (err == -EBADMSG || (!err && !reply_echoes(io, m))) {
		srv->st.short_replies++;
		if (m)
			log_ratelimited(5000, LOG_LEVEL_ERR, "memory server %s "
					"answered %s of %u pages at %lu with "
					"%u pages at %lu (%u bytes): rejected",
					srv->name, rmap_type_name(io->type),
					io->count, (unsigned long)io->page,
					m->count, (unsigned long)m->page,
					m->len);
		else
			log_ratelimited(5000, LOG_LEVEL_ERR, "memory server %s "
					"answered %s of %u pages at %lu for "
					"another page run: rejected", srv->name,
					rmap_type_name(io->type), io->count,
					(unsigned long)io->page);
		remote_server_heard(r, io->idx);
		if (io->fn)
			io->fn(io->arg, -EBADMSG, 0);
		free(io);
		return;
	}
	if (err) {
		srv->st.errors++;
	} else {
		remote_server_heard(r, io->idx);
		/* Only if it is still a session we use (not a new one). */
		if (status == RMAP_S_BADSESSION &&
		    remote_session_find(r, io->idx, io->sid))
			remote_server_failed(r, io->idx, "it no longer "
					     "knows our session", false);
		if (status == RMAP_S_FULL)
			srv->st.full_refusals++;
		if (!status && (io->type == RMAP_T_READ ||
				io->type == RMAP_T_READZ))
			srv->st.pages_in += io->count;
		if (!status && (io->type == RMAP_T_WRITE ||
				io->type == RMAP_T_XWRITE))
			srv->st.pages_out += io->count;
	}
	if (io->fn)
		io->fn(io->arg, err, status);
	free(io);
}

int remote_io_call(struct remote *r, unsigned idx, struct rmap_req *req,
		   void *buf, uint32_t cap, remote_done_fn fn, void *arg)
{
	struct io *io = calloc(1, sizeof(*io));
	int ret;

	if (!io)
		return -ENOMEM;
	*io = (struct io){ r, req->session, idx, req->type, req->flags,
			   req->page, req->count, fn, arg, { 0 } };
	ret = rmap_call(r->ep, r->srv[idx].peer, req, buf ? buf : io->body,
			buf ? cap : sizeof(io->body), remote_io_done, io);
	if (ret)
		free(io);
	return ret;
}

int remote_call(struct remote *r, struct remote_session *s, uint8_t type,
		uint16_t flags, uint64_t page, uint32_t count,
		const struct iovec *iov, int iovcnt, void *buf, uint32_t cap,
		remote_done_fn fn, void *arg)
{
	struct rmap_req req = { .type = type, .session = s->id, .page = page,
				.count = count, .iov = iov, .iovcnt = iovcnt,
				.flags = flags };

	if (!s->id)
		return -ENOTCONN;
	if (type == RMAP_T_READ || type == RMAP_T_READZ)
		r->srv[s->server].st.reads++;
	else if (type == RMAP_T_XFREE || type == RMAP_T_FREE)
		r->srv[s->server].st.frees++;
	else
		r->srv[s->server].st.writes++;
	return remote_io_call(r, s->server, &req, buf, cap, fn, arg);
}

void remote_count_bad(struct remote *r, unsigned idx, uint32_t n)
{
	r->srv[idx].st.bad_pages += n;
}

int remote_leave(struct remote *r, unsigned idx, remote_done_fn fn, void *arg)
{
	struct rmap_req req = { .type = RMAP_T_LEAVE };

	/* No new sessions there from now on, whatever the answer. */
	r->srv[idx].drained = true;
	remote_changed(r, idx);
	return remote_io_call(r, idx, &req, NULL, 0, fn, arg);
}
