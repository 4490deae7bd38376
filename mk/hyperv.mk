# The Hyper-V channel's message encoding (src/host/hvwire.c; the adapter itself is part
# of quiesced, mk/daemon.mk): its unit test and its fuzz target (mk/fuzz.mk builds
# it: build/tests/fuzz_hvwire replays the corpus, make fuzz-hvwire fuzzes).

# (The rule is mk/unit.mk's.)
UNIT_TESTS += hvwire
UNIT_SRC_hvwire := src/host/hvwire.c

# hvwire: what /dev/vmbus/hv_vss (or hvsim) sends.
FUZZ_TARGETS += hvwire
FUZZ_SRC_hvwire := src/host/hvwire.c
