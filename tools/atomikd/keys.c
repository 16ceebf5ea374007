// SPDX-License-Identifier: GPL-2.0
/*
 * atomikd's signatures: this node's Ed25519 key, read from an nkey seed
 * file (the one the node authenticates to NATS with, or its own), and the
 * members' public keys from the configuration's nodes = N:KEY ... list.
 * The protocol core signs and verifies through keys_sign() and
 * keys_verify(); Documentation/atomik/cluster.rst, "Signed contributions",
 * says what is signed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "daemon.h"
#include "nkey.h"

static uint8_t sk[crypto_sign_SECRETKEYBYTES];

static void read_seed(const char *path, uint8_t seed[32])
{
	char line[128];

	secret_line(path, line, sizeof(line));
	if (nkey_decode(line, true, seed)) {
		sodium_memzero(line, sizeof(line));
		die(2, "%s: its first line is not a user nkey seed (SU..., as atomikd --gen-key "
		    "or nsc write)", path);
	}
	sodium_memzero(line, sizeof(line));
}

void keys_load(void)
{
	const char *path = cfg.signing_key_file ? cfg.signing_key_file : cfg.nats_nkey_seed_file;
	uint8_t seed[32], pk[crypto_sign_PUBLICKEYBYTES];
	char text[NKEY_TEXT_MAX];

	if (!cfg.keys)
		return;
	if (sodium_init() < 0)
		die(1, "libsodium cannot start");
	read_seed(path, seed);
	crypto_sign_seed_keypair(pk, sk, seed);
	sodium_memzero(seed, sizeof(seed));
	if (memcmp(pk, cfg.keys[cfg.node], sizeof(pk))) {
		nkey_encode(pk, false, text);
		die(2, "%s is the key of %s, not node %lu's key in nodes", path, text, cfg.node);
	}
}

void keys_sign(void *arg, const void *buf, size_t len, uint8_t sig[64])
{
	(void)arg;
	crypto_sign_detached(sig, NULL, buf, len, sk);
}

bool keys_verify(void *arg, uint16_t node, const void *buf, size_t len, const uint8_t sig[64])
{
	(void)arg;
	return cfg.allowed[node] && !crypto_sign_verify_detached(sig, buf, len, cfg.keys[node]);
}

void keys_generate(const char *file)
{
	uint8_t pk[crypto_sign_PUBLICKEYBYTES], seed[32];
	char text[NKEY_TEXT_MAX];
	int fd;

	if (sodium_init() < 0)
		die(1, "libsodium cannot start");
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		die(1, "cannot create %s: %s", file, strerror(errno));
	randombytes_buf(seed, sizeof(seed));
	crypto_sign_seed_keypair(pk, sk, seed);
	nkey_encode(seed, true, text);
	sodium_memzero(seed, sizeof(seed));
	strcat(text, "\n");
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text) || fsync(fd) || close(fd)) {
		sodium_memzero(text, sizeof(text));
		unlink(file);
		die(1, "cannot write %s: %s", file, strerror(errno));
	}
	sodium_memzero(text, sizeof(text));
	sodium_memzero(sk, sizeof(sk));
	nkey_encode(pk, false, text);
	printf("%s\n", text);
	exit(0);
}
