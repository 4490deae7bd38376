# SPDX-License-Identifier: MIT
# libquiesce (shared + static + pkg-config), its sample apps, and their tests.
# The wire format (src/common/appwire.c) is compiled into the library too; the daemon
# links its own copy from $(BUILD)/obj.

LIBQ_SRC    := $(sort $(wildcard src/lib/*.c)) src/common/appwire.c src/common/appfslist.c
LIBQ_PIC    := $(patsubst %.c,$(BUILD)/pic/%.o,$(LIBQ_SRC))
LIBQ_OBJ    := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIBQ_SRC))
LIBQ_SONAME := libquiesce.so.0
LIBQ_MAP    := src/lib/libquiesce.map
LIBQ_SO     := $(BUILD)/$(LIBQ_SONAME)
LIBQ_A      := $(BUILD)/libquiesce.a

# A library with undefined symbols is a bug, except for the sanitizer runtime the
# executable brings along.
ifneq ($(SANITIZE),1)
LIBQ_LDFLAGS := -Wl,--no-undefined
endif

$(LIBQ_SO): $(LIBQ_PIC) $(LIBQ_MAP)
	$(CC) $(LDFLAGS) -shared -Wl,-soname,$(LIBQ_SONAME) -Wl,--version-script=$(LIBQ_MAP) \
	    $(LIBQ_LDFLAGS) -o $@ $(LIBQ_PIC)

$(BUILD)/libquiesce.so: $(LIBQ_SO)
	ln -sf $(LIBQ_SONAME) $@

$(LIBQ_A): $(LIBQ_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

# pkg-config: quiesce.pc for the install, quiesce-uninstalled.pc for building against
# this tree (pkg-config prefers it when PKG_CONFIG_PATH=build). The directories are
# the top Makefile's.

$(BUILD)/quiesce.pc: mk/quiesce.pc.in mk/lib.mk
	@mkdir -p $(dir $@)
	sed -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' $< > $@

$(BUILD)/quiesce-uninstalled.pc: mk/quiesce.pc.in mk/lib.mk
	@mkdir -p $(dir $@)
	sed -e 's|@LIBDIR@|$(abspath $(BUILD))|' -e 's|@INCLUDEDIR@|$(abspath include)|' \
	    -e 's|@VERSION@|$(VERSION)|' $< > $@

LIBRARIES += $(LIBQ_SO) $(BUILD)/libquiesce.so $(LIBQ_A) $(BUILD)/quiesce.pc \
	$(BUILD)/quiesce-uninstalled.pc

# Sample apps. appvss-sim uses the shared library (found beside it through $ORIGIN),
# recwriter the static one, so it can be copied alone into a test VM.
$(BUILD)/appvss-sim: $(BUILD)/obj/examples/appvss-sim.o $(BUILD)/libquiesce.so
	$(CC) $(LDFLAGS) -o $@ $< -L$(BUILD) -lquiesce -Wl,-rpath,'$$ORIGIN'

$(BUILD)/recwriter: $(BUILD)/obj/examples/recwriter.o $(LIBQ_A)
	$(CC) $(LDFLAGS) -o $@ $^

PROGRAMS += $(BUILD)/appvss-sim $(BUILD)/recwriter

# Unit tests (cmocka, TAP).
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null || echo -lcmocka)

# (test_appwire's rule is mk/unit.mk's.)
UNIT_TESTS += appwire
UNIT_SRC_appwire := src/common/appwire.c src/common/appfslist.c

$(BUILD)/tests/test_libquiesce: $(BUILD)/obj/tests/unit/test_libquiesce.o $(LIBQ_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) -pthread

TEST_PROGRAMS += $(BUILD)/tests/test_libquiesce

# Its part of make install (mk/install.mk): the library, header, pkg-config file and
# man page; make install-lib installs only these.
.PHONY: install-lib uninstall-lib
installable: $(LIBQ_SO) $(LIBQ_A) $(BUILD)/quiesce.pc

install-lib: $(LIBQ_SO) $(LIBQ_A) $(BUILD)/quiesce.pc
	$(INSTALL) -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(MANDIR)/man3
	$(INSTALL) -m 0644 $(LIBQ_SO) $(DESTDIR)$(LIBDIR)/$(LIBQ_SONAME)
	ln -sf $(LIBQ_SONAME) $(DESTDIR)$(LIBDIR)/libquiesce.so
	$(INSTALL) -m 0644 $(LIBQ_A) $(DESTDIR)$(LIBDIR)/libquiesce.a
	$(INSTALL) -m 0644 include/quiesce.h $(DESTDIR)$(INCLUDEDIR)/quiesce.h
	$(INSTALL) -m 0644 $(BUILD)/quiesce.pc $(DESTDIR)$(LIBDIR)/pkgconfig/quiesce.pc
	$(INSTALL) -m 0644 man/libquiesce.3 $(DESTDIR)$(MANDIR)/man3/libquiesce.3

uninstall-lib:
	rm -f $(DESTDIR)$(LIBDIR)/$(LIBQ_SONAME) $(DESTDIR)$(LIBDIR)/libquiesce.so \
	    $(DESTDIR)$(LIBDIR)/libquiesce.a $(DESTDIR)$(INCLUDEDIR)/quiesce.h \
	    $(DESTDIR)$(LIBDIR)/pkgconfig/quiesce.pc $(DESTDIR)$(MANDIR)/man3/libquiesce.3
