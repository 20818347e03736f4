// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * check_pagegroup.c - page-groups: where pages live, how groups are
 * placed (distinct servers, room, rotating parity), what a failed server
 * does to them, and that XOR parity rebuilds a missing page.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "check_util.h"
#include "pagegroup/pagegroup.h"

#define PAGE	4096u
#define NSRV	8u

static void servers_init(struct pg_server *srv, unsigned n, uint64_t free_pages)
{
	memset(srv, 0, sizeof(*srv) * n);
	for (unsigned i = 0; i < n; i++) {
		srv[i].usable = true;
		srv[i].free_pages = free_pages;
	}
}

/* Page k of a group is on slot k % S, row k / S; keys are per row. */
START_TEST(test_locate)
{
	struct pg_geometry geo = { 4, 16, true };
	unsigned slot, row;
	uint64_t g;

	pg_locate(&geo, 2155, &g, &slot, &row);
	/* The paper's example has M = 256; with M = 16 a group is 64. */
	ck_assert_uint_eq(g, 2155 / 64);
	ck_assert_uint_eq(slot, (2155 % 64) % 4);
	ck_assert_uint_eq(row, (2155 % 64) / 4);
	ck_assert_uint_eq(pg_page(&geo, g, slot, row), 2155);
	ck_assert_uint_eq(pg_key(&geo, g, row), g * 16 + row);
	/* Every page maps to one (group, slot, row), and back. */
	for (uint64_t p = 0; p < 10000; p++) {
		pg_locate(&geo, p, &g, &slot, &row);
		ck_assert_uint_lt(slot, 4);
		ck_assert_uint_lt(row, 16);
		ck_assert_uint_eq(pg_page(&geo, g, slot, row), p);
	}
}
END_TEST

START_TEST(test_geometry)
{
	struct pg_geometry geo = { 4, 16, true };
	char why[128] = "";

	pg_geometry_fit(&geo, 5);
	ck_assert_uint_eq(geo.width, 3);	/* 3 + parity + a spare */
	ck_assert_int_eq(pg_geometry_check(&geo, 5, why, sizeof(why)), 0);
	geo = (struct pg_geometry){ 4, 16, true };
	ck_assert_int_eq(pg_geometry_check(&geo, 1, why, sizeof(why)), -EINVAL);
	ck_assert_str_ne(why, "");
	pg_geometry_fit(&geo, 2);
	ck_assert_uint_eq(geo.width, 1);	/* a mirror */
	ck_assert(geo.parity);
	pg_geometry_fit(&geo, 1);
	ck_assert(!geo.parity);
	geo = (struct pg_geometry){ 4, 16, false };
	pg_geometry_fit(&geo, 1);
	ck_assert_uint_eq(geo.width, 1);
	ck_assert_int_eq(pg_geometry_check(&geo, 1, why, sizeof(why)), 0);
	geo = (struct pg_geometry){ 9, 16, true };
	ck_assert_int_eq(pg_geometry_check(&geo, 0, why, sizeof(why)), -EINVAL);
	geo = (struct pg_geometry){ 2, 0, true };
	ck_assert_int_eq(pg_geometry_check(&geo, 0, why, sizeof(why)), -EINVAL);
}
END_TEST

/* S + 1 distinct servers per group; parity rotates over all of them. */
START_TEST(test_place_distinct_rotating)
{
	struct pg_geometry geo = { 3, 16, true };
	struct pg_server srv[NSRV];
	struct pg_table *t;
	uint64_t groups = 800;

	servers_init(srv, NSRV, 1u << 20);
	ck_assert_int_eq(pg_table_new(&t, groups * 48, &geo, NULL), 0);
	for (uint64_t g = 0; g < groups; g++) {
		struct pg_group *grp = pg_group(t, g);

		ck_assert_int_eq(pg_place(t, g, srv, NSRV), 0);
		ck_assert_uint_eq(grp->state, PG_OK);
		for (unsigned i = 0; i < 4; i++)
			for (unsigned j = i + 1; j < 4; j++)
				ck_assert_uint_ne(grp->srv[i], grp->srv[j]);
	}
	/* Equal servers: slots and parity spread evenly. */
	for (unsigned i = 0; i < NSRV; i++) {
		ck_assert_uint_ge(srv[i].groups, 800 * 4 / NSRV - 8);
		ck_assert_uint_le(srv[i].groups, 800 * 4 / NSRV + 8);
		ck_assert_uint_ge(srv[i].parity, 800 / NSRV - 8);
		ck_assert_uint_le(srv[i].parity, 800 / NSRV + 8);
	}
	pg_table_free(t, srv);
	for (unsigned i = 0; i < NSRV; i++) {
		ck_assert_uint_eq(srv[i].groups, 0);
		ck_assert_uint_eq(srv[i].parity, 0);
	}
}
END_TEST

/* Room and load decide; dead, full, draining servers take nothing. */
START_TEST(test_place_by_room)
{
	struct pg_geometry geo = { 2, 16, true };
	struct pg_server srv[6];
	struct pg_table *t;

	servers_init(srv, 6, 1000);
	srv[0].free_pages = 100000;
	srv[1].dead = true;
	srv[1].usable = false;
	srv[2].full = true;
	srv[3].draining = true;
	srv[4].free_pages = 100000;
	srv[4].load_permille = 1000;	/* half as attractive */
	ck_assert_int_eq(pg_table_new(&t, 48 * 10, &geo, NULL), 0);
	ck_assert_int_eq(pg_place(t, 0, srv, 6), 0);
	for (unsigned i = 0; i < 3; i++) {
		unsigned s = pg_group(t, 0)->srv[i];

		ck_assert(s == 0 || s == 4 || s == 5);
	}
	/* Nothing left with room for three slots: the group stays EMPTY. */
	srv[5].free_pages = 0;
	ck_assert_int_eq(pg_place(t, 1, srv, 6), -ENOSPC);
	ck_assert_uint_eq(pg_group(t, 1)->state, PG_EMPTY);
	pg_table_free(t, srv);
}
END_TEST

/* A server never takes more slots than its capacity can fill. */
START_TEST(test_room_committed)
{
	struct pg_geometry geo = { 2, 16, true };
	struct pg_server srv[4];
	struct pg_table *t;
	uint64_t g = 0;

	servers_init(srv, 4, 1u << 20);
	for (unsigned i = 0; i < 4; i++)
		srv[i].capacity_pages = 1u << 20;
	srv[0].capacity_pages = srv[0].free_pages = 64;	/* 4 slots of 16 */
	ck_assert_int_eq(pg_table_new(&t, 32 * 100, &geo, NULL), 0);
	for (g = 0; g < 100; g++)
		ck_assert_int_eq(pg_place(t, g, srv, 4), 0);
	ck_assert_uint_le(srv[0].groups, 4);
	ck_assert_uint_eq(pg_room(&srv[0]), 64 - srv[0].groups * 16);
	pg_table_free(t, srv);
	ck_assert_uint_eq(srv[0].committed, 0);
}
END_TEST

/* Equal servers: groups spread over many server sets, not a few. */
START_TEST(test_place_spreads_sets)
{
	struct pg_geometry geo = { 3, 16, true };
	struct pg_server srv[6];
	struct pg_table *t;
	unsigned masks[64] = { 0 }, nmasks = 0;

	servers_init(srv, 6, 1u << 20);
	ck_assert_int_eq(pg_table_new(&t, 48 * 60, &geo, NULL), 0);
	for (uint64_t g = 0; g < 60; g++) {
		unsigned m = 0, k;

		ck_assert_int_eq(pg_place(t, g, srv, 6), 0);
		for (unsigned i = 0; i < 4; i++)
			m |= 1u << pg_group(t, g)->srv[i];
		for (k = 0; k < nmasks && masks[k] != m; k++)
			;
		if (k == nmasks)
			masks[nmasks++] = m;
	}
	/* 15 sets of 4 exist among 6 servers; use more than a handful. */
	ck_assert_uint_ge(nmasks, 6);
	pg_table_free(t, srv);
}
END_TEST

/* The spare for a rebuilt slot holds nothing of the group. */
START_TEST(test_spare_and_move)
{
	struct pg_geometry geo = { 3, 16, true };
	struct pg_server srv[5];
	struct pg_table *t;
	unsigned spare, old;

	servers_init(srv, 5, 1u << 20);
	ck_assert_int_eq(pg_table_new(&t, 480, &geo, NULL), 0);
	ck_assert_int_eq(pg_place(t, 2, srv, 5), 0);
	spare = pg_spare(t, 2, srv, 5);
	ck_assert_uint_ne(spare, PG_NO_SERVER);
	ck_assert_int_eq(pg_slot_of(t, 2, spare), -1);
	old = pg_group(t, 2)->srv[1];
	pg_move_slot(t, 2, 1, spare, srv);
	ck_assert_int_eq(pg_slot_of(t, 2, spare), 1);
	ck_assert_int_eq(pg_slot_of(t, 2, old), -1);
	ck_assert_uint_eq(srv[old].groups, 0);
	ck_assert_uint_eq(srv[spare].groups, 1);
	/* All five in use or unusable: no spare. */
	srv[old].dead = true;
	ck_assert_uint_eq(pg_spare(t, 2, srv, 5), PG_NO_SERVER);
	pg_table_free(t, srv);
}
END_TEST

static unsigned changed;

static void note_change(uint64_t g, struct pg_group *grp, void *arg)
{
	(void)g;
	(void)grp;
	(void)arg;
	changed++;
}

/* One failure degrades; a second in the same group loses it. */
START_TEST(test_failure_states)
{
	struct pg_geometry geo = { 3, 16, true };
	struct pg_server srv[6];
	struct pg_table *t;
	struct pg_group *grp;
	unsigned a, b;

	servers_init(srv, 6, 1u << 20);
	ck_assert_int_eq(pg_table_new(&t, 48 * 4, &geo, NULL), 0);
	for (uint64_t g = 0; g < 4; g++)
		ck_assert_int_eq(pg_place(t, g, srv, 6), 0);
	grp = pg_group(t, 0);
	a = grp->srv[1];
	b = grp->srv[3];	/* the parity */
	changed = 0;
	ck_assert_uint_eq(pg_server_failed(t, a, note_change, NULL), 0);
	ck_assert_uint_ge(changed, 1);
	ck_assert_uint_eq(grp->state, PG_DEGRADED);
	ck_assert_uint_eq(grp->bad, 1);
	ck_assert(!(grp->flags & PG_F_MOVE));
	ck_assert_uint_ge(pg_server_failed(t, b, note_change, NULL), 1);
	ck_assert_uint_eq(grp->state, PG_LOST);
	ck_assert_uint_eq(grp->lost, (1u << 1) | (1u << 3));
	pg_table_free(t, srv);

	/* Without parity the first failure already loses the slot. */
	geo.parity = false;
	servers_init(srv, 6, 1u << 20);
	ck_assert_int_eq(pg_table_new(&t, 48, &geo, NULL), 0);
	ck_assert_int_eq(pg_place(t, 0, srv, 6), 0);
	grp = pg_group(t, 0);
	ck_assert_uint_eq(pg_server_failed(t, grp->srv[2], NULL, NULL), 1);
	ck_assert_uint_eq(grp->state, PG_LOST);
	ck_assert_uint_eq(grp->lost, 1u << 2);
	pg_table_free(t, srv);
}
END_TEST

/* A slot being moved (drain) whose server dies is rebuilt instead. */
START_TEST(test_failure_during_move)
{
	struct pg_geometry geo = { 2, 16, true };
	struct pg_server srv[5];
	struct pg_table *t;
	struct pg_group *grp;

	servers_init(srv, 5, 1u << 20);
	ck_assert_int_eq(pg_table_new(&t, 32, &geo, NULL), 0);
	ck_assert_int_eq(pg_place(t, 0, srv, 5), 0);
	grp = pg_group(t, 0);
	grp->state = PG_DEGRADED;
	grp->bad = 0;
	grp->flags |= PG_F_MOVE;
	ck_assert_uint_eq(pg_server_failed(t, grp->srv[0], NULL, NULL), 0);
	ck_assert_uint_eq(grp->state, PG_DEGRADED);
	ck_assert_uint_eq(grp->bad, 0);
	ck_assert(!(grp->flags & PG_F_MOVE));
	pg_table_free(t, srv);
}
END_TEST

/* XOR of a stripe's data is its parity; any one page is the XOR of the rest. */
START_TEST(test_xor_rebuild)
{
	static uint8_t data[5][PAGE], parity[PAGE], rebuilt[PAGE];
	uint64_t seed = 0x9e3779b97f4a7c15ull;

	for (unsigned i = 0; i < 5; i++)
		tu_fill(&seed, data[i], PAGE);
	memset(parity, 0, PAGE);
	for (unsigned i = 0; i < 5; i++)
		pg_xor(parity, data[i], PAGE);
	for (unsigned lost = 0; lost < 5; lost++) {
		memcpy(rebuilt, parity, PAGE);
		for (unsigned i = 0; i < 5; i++)
			if (i != lost)
				pg_xor(rebuilt, data[i], PAGE);
		ck_assert_mem_eq(rebuilt, data[lost], PAGE);
	}
}
END_TEST

/* Metadata: one record per group, never per page. */
START_TEST(test_metadata_size)
{
	struct pg_geometry geo = { 4, 16, true };
	uint64_t npages = (64ull << 30) / PAGE;	/* 64 GiB */
	struct pg_table *t;

	ck_assert_uint_le(sizeof(struct pg_group), 20);
	ck_assert_int_eq(pg_table_new(&t, npages, &geo, NULL), 0);
	/* Under half a byte per page, before the pager's own byte. */
	ck_assert_uint_lt(pg_table_bytes(t) * 2, npages);
	pg_table_free(t, NULL);
}
END_TEST

static Suite *pagegroup_suite(void)
{
	Suite *s = suite_create("pagegroup");
	TCase *tc = tcase_create("layout");

	tcase_add_test(tc, test_locate);
	tcase_add_test(tc, test_geometry);
	tcase_add_test(tc, test_metadata_size);
	tcase_add_test(tc, test_xor_rebuild);
	suite_add_tcase(s, tc);
	tc = tcase_create("placement");
	tcase_add_test(tc, test_place_distinct_rotating);
	tcase_add_test(tc, test_place_by_room);
	tcase_add_test(tc, test_spare_and_move);
	tcase_add_test(tc, test_room_committed);
	tcase_add_test(tc, test_place_spreads_sets);
	suite_add_tcase(s, tc);
	tc = tcase_create("failure");
	tcase_add_test(tc, test_failure_states);
	tcase_add_test(tc, test_failure_during_move);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(pagegroup_suite());
}
