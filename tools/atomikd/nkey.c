// SPDX-License-Identifier: GPL-2.0
/* nkeys' text form (nkey.h). */
#include <string.h>

#include "nkey.h"

static const char B32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
#define NKEY_SEED	(18 << 3)	/* 'S' */
#define NKEY_USER	(20 << 3)	/* 'U' */

static uint16_t crc16(const uint8_t *p, size_t n)
{
	uint16_t crc = 0;
	int i;

	while (n--) {
		crc ^= (uint16_t)(*p++ << 8);
		for (i = 0; i < 8; i++)
			crc = crc & 0x8000 ? (uint16_t)(crc << 1) ^ 0x1021 : (uint16_t)(crc << 1);
	}
	return crc;
}

int nkey_decode(const char *text, bool seed, uint8_t key[32])
{
	size_t want = seed ? 36 : 35, len = strlen(text), n = 0, i;
	uint8_t raw[36];
	unsigned int bits = 0, acc = 0;
	const char *at;
	uint16_t crc;

	if (len != (want * 8 + 4) / 5)
		return -1;
	for (i = 0; i < len; i++) {
		at = text[i] ? strchr(B32, text[i]) : NULL;
		if (!at)
			return -1;
		acc = (acc << 5) | (unsigned int)(at - B32);
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			raw[n++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (n != want || acc)
		return -1;
	crc = crc16(raw, want - 2);
	if (raw[want - 2] != (crc & 0xff) || raw[want - 1] != crc >> 8)
		return -1;
	if (seed ? raw[0] != (NKEY_SEED | NKEY_USER >> 5) || raw[1] != ((NKEY_USER & 31) << 3)
		 : raw[0] != NKEY_USER)
		return -1;
	memcpy(key, raw + want - 34, 32);
	return 0;
}

void nkey_encode(const uint8_t key[32], bool seed, char text[NKEY_TEXT_MAX])
{
	uint8_t raw[36];
	size_t n = 0, i, t = 0;
	unsigned int bits = 0, acc = 0;
	uint16_t crc;

	if (seed) {
		raw[n++] = NKEY_SEED | NKEY_USER >> 5;
		raw[n++] = (NKEY_USER & 31) << 3;
	} else {
		raw[n++] = NKEY_USER;
	}
	memcpy(raw + n, key, 32);
	n += 32;
	crc = crc16(raw, n);
	raw[n++] = crc & 0xff;
	raw[n++] = crc >> 8;
	for (i = 0; i < n; i++) {
		acc = (acc << 8) | raw[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			text[t++] = B32[(acc >> bits) & 31];
		}
		acc &= (1u << bits) - 1;
	}
	if (bits)
		text[t++] = B32[(acc << (5 - bits)) & 31];
	text[t] = 0;
}
