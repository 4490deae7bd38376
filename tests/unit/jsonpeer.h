// SPDX-License-Identifier: MIT
/* The client's side of a JSON-lines socket, for the transports' unit tests that talk to
 * one over a real socket (test_control, test_qga): send a request, wait (bounded, the
 * loop running) for the next answer line, pick a string out of an answer. */
#ifndef QUIESCE_JSONPEER_H
#define QUIESCE_JSONPEER_H

#include <stddef.h>

struct json_object;
struct loop;

/* Send text (n bytes), all of it, or fail the test. */
void peer_say(int fd, const char *text);
void peer_say_n(int fd, const char *text, size_t n);

/* Run loop until a whole line (raw: a 0xFF kept) or the end of the connection is there,
 * limit_ms at the most. The line in buf: 1; the connection ended: 0; nothing: -1. */
int peer_line(struct loop *loop, int fd, char *buf, size_t size, unsigned limit_ms);

/* The member at k1/k2 (k2 may be NULL) of an answer, as a string; absent: the test fails. */
const char *peer_str(struct json_object *a, const char *k1, const char *k2);

#endif
