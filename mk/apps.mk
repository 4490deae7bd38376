# SPDX-License-Identifier: MIT
# The app registry and hook directory live in src/apps/ and are part of quiesced
# (mk/daemon.mk compiles src/apps/*.c). This fragment has their benchmark.
#
#   make bench-apps    time to frozen with 1000 connected apps against 0 apps
#                      (bench/apps_bench.py; results: bench/RESULTS.md)

# N apps in one process, answering every request at once (links libquiesce).
$(BUILD)/appswarm: $(BUILD)/obj/bench/appswarm.o $(BUILD)/libquiesce.a
	$(CC) $(LDFLAGS) -o $@ $^

.PHONY: bench-apps
bench-apps: deps $(BUILD)/quiesced $(BUILD)/appswarm
	QUIESCE_BUILD=$(abspath $(BUILD)) bench/apps_bench.py $(BENCH_ARGS)
