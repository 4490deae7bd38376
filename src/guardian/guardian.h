// SPDX-License-Identifier: MIT
/* The thaw guardian (guardian.c), all of quiesce-guardian but main.c's call. */
#ifndef QUIESCE_GUARDIAN_H
#define QUIESCE_GUARDIAN_H

/* quiesce-guardian's main: argv[1] is FD, its end of quiesced's socketpair (or -h,
 * --help, -V, --version). Returns the exit status: 0, or 2 for bad usage. Uses
 * process-wide state (signals, mlockall, statics): once per process. */
int guardian_main(int argc, char **argv);

#endif
