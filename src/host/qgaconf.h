// SPDX-License-Identifier: MIT
/* The qemu-ga backend's config file (qgaback.c). qemu-ga reads /etc/qemu/qemu-ga.conf
 * (or $QGA_CONF) whatever its command line says, and its command line overrides all
 * of it but one key: "daemon = true" would make it fork away from quiesced's
 * supervision (and every restart would leave one more behind). So the backend gets
 * a copy with "daemon=false" added after it: qemu-ga's key file takes the last
 * value of a key, groups of one name merge. The administrator's other settings,
 * block-rpcs first of all, still apply. */
#ifndef QUIESCE_QGACONF_H
#define QUIESCE_QGACONF_H

#define QGACONF_DEFAULT "/etc/qemu/qemu-ga.conf"

/* Writes DIR/qemu-ga.conf from the administrator's file (a missing one is an empty
 * one) and returns the environment to run qemu-ga with: ours, QGA_CONF pointing at
 * that copy. NULL on failure (logged). */
char **qgaconf_prepare(const char *dir);
void qgaconf_free_env(char **env);

#endif
