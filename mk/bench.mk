# SPDX-License-Identifier: MIT
# bench/: the freeze benchmark (bench/RESULTS.md).
#
#   make bench           as root: scratch loop mounts, every row, bench/RESULTS.md's tables
#                        and chart into $(BUILD)/bench/ (BENCH_ARGS: bench/run.py --help)
#   make bench-matrix    as root: the scenario matrix (bench/matrix.py --help) into
#                        $(BUILD)/bench/matrix.md
#   make bench-db        as root: what the PostgreSQL and MariaDB agents add to a freeze, idle
#                        and under writers, and the writers blocked (bench/db.py --help) into
#                        $(BUILD)/bench/db.md and db.json
#
# qbench times every row the same way (C, CLOCK_MONOTONIC, a persistent connection);
# the app rows use $(BUILD)/appswarm (mk/apps.mk: N registered apps in one process).

BENCH_DIR := $(BUILD)/bench
BENCH_ARGS ?=

$(BENCH_DIR)/qbench: $(BUILD)/obj/bench/qbench.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -pthread

BENCH_PROGRAMS := $(BENCH_DIR)/qbench $(BUILD)/appswarm
PROGRAMS += $(BENCH_PROGRAMS)

.PHONY: bench bench-matrix bench-db
bench: deps all $(BENCH_PROGRAMS)
	QUIESCE_BUILD=$(abspath $(BUILD)) bench/run.py --out $(abspath $(BENCH_DIR)) $(BENCH_ARGS)

# The scenario matrix (rcu_expedited 0/1, tmpfs/disk images, clean/dirty, hot/cold).
bench-matrix: deps all $(BENCH_PROGRAMS)
	QUIESCE_BUILD=$(abspath $(BUILD)) bench/matrix.py --out $(abspath $(BENCH_DIR)) $(BENCH_ARGS)

# The database agents against no app, on the real servers (agents and writers: mk/agents.mk).
bench-db: deps all
	@mkdir -p $(BENCH_DIR)
	QUIESCE_BUILD=$(abspath $(BUILD)) bench/db.py --json $(abspath $(BENCH_DIR))/db.json $(BENCH_ARGS) \
		>$(BENCH_DIR)/db.md; st=$$?; cat $(BENCH_DIR)/db.md; exit $$st
