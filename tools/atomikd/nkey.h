/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nkeys: NATS's text form of an Ed25519 key, base32 (RFC 4648, without
 * padding) of a prefix naming its kind, the key's 32 bytes and their
 * CRC-16/XMODEM, little-endian.  atomikd's signing keys are users' nkeys:
 * a seed "SU..." (58 letters) in a file, a public key "U..." (56) in the
 * configuration.
 */
#ifndef ATOMIKD_NKEY_H
#define ATOMIKD_NKEY_H

#include <stdbool.h>
#include <stdint.h>

#define NKEY_TEXT_MAX	60	/* a seed's letters and a NUL, and to spare */

/* A user's public key (seed false) or seed (seed true): 0, or -1. */
int nkey_decode(const char *text, bool seed, uint8_t key[32]);
void nkey_encode(const uint8_t key[32], bool seed, char text[NKEY_TEXT_MAX]);

#endif
