# SPDX-License-Identifier: MIT
# make install / make uninstall, with the directories of the top Makefile (PREFIX,
# DESTDIR, BINDIR, SBINDIR, LIBDIR, LIBEXECDIR, INCLUDEDIR, SYSCONFDIR, MANDIR, UNITDIR,
# UDEVRULESDIR). Build and install with the same values: the compiled-in defaults and
# the units' paths come from them.
#
#   make install       programs, guardian (LIBEXECDIR/quiesce/), libquiesce, man pages
#                      (every man/*.[1-8]), units (not enabled), udev rules, qemu-ga's
#                      fsfreeze hook, an example config (never over an existing one),
#                      an empty hooks dir
#   make uninstall     removes what install put there; the config stays unless it is
#                      still the example, and so do hooks the admin added
#   make installable   builds only what install needs (debian/rules)
#
# tests/packaging/install-files.txt lists what make install puts into a DESTDIR.

DIST := $(BUILD)/dist
UNITS := quiesced.service quiesced-hyperv.service quiesced-qga.service
DIST_UNITS := $(UNITS:%=$(DIST)/%)
DIST_FILES := $(DIST_UNITS) $(DIST)/quiesced.conf $(DIST)/qemu-fsfreeze-hook
MANPAGES := $(sort $(wildcard man/*.[1-8]))
GUARDIAN_DIR := $(LIBEXECDIR)/quiesce
CONF_DIR := $(SYSCONFDIR)/quiesce
QGA_HOOK := $(SYSCONFDIR)/qemu/fsfreeze-hook.d/quiesce
INSTALL ?= install

# Templates: @SBINDIR@ and the like. They depend on $(PATHS_H), which changes when a
# directory does. The units share their [Service] tail (systemd/service-common.in).
SUBST = sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@BINDIR@|$(BINDIR)|g' \
	-e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' -e 's|@GUARDIAN_PATH@|$(GUARDIAN_DIR)/quiesce-guardian|g'

$(DIST)/%.service: systemd/%.service.in systemd/service-common.in $(PATHS_H)
	@mkdir -p $(dir $@)
	$(SUBST) -e '/^@SERVICE_COMMON@$$/{r systemd/service-common.in' -e 'd}' $< > $@

$(DIST)/%: dist/%.in $(PATHS_H)
	@mkdir -p $(dir $@)
	$(SUBST) $< > $@

all: $(DIST_FILES)

# mk/lib.mk adds the library's files to installable, and has install-lib and
# uninstall-lib (it is read after this fragment).
.PHONY: installable install uninstall
installable: $(BUILD)/quiesced $(BUILD)/quiescectl $(BUILD)/quiesce-guardian $(DIST_FILES)

install: installable install-lib
	$(INSTALL) -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(GUARDIAN_DIR)
	$(INSTALL) -m 0755 $(BUILD)/quiesced $(DESTDIR)$(SBINDIR)/quiesced
	$(INSTALL) -m 0755 $(BUILD)/quiescectl $(DESTDIR)$(BINDIR)/quiescectl
	$(INSTALL) -m 0755 $(BUILD)/quiesce-guardian $(DESTDIR)$(GUARDIAN_DIR)/quiesce-guardian
	$(INSTALL) -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(UDEVRULESDIR)
	$(INSTALL) -m 0644 $(DIST_UNITS) $(DESTDIR)$(UNITDIR)/
	$(INSTALL) -m 0644 dist/60-quiesce.rules $(DESTDIR)$(UDEVRULESDIR)/60-quiesce.rules
	$(INSTALL) -D -m 0755 $(DIST)/qemu-fsfreeze-hook $(DESTDIR)$(QGA_HOOK)
	$(INSTALL) -d -m 0755 $(DESTDIR)$(CONF_DIR)/hooks.d
	@# The admin's config is never replaced.
	[ -e $(DESTDIR)$(CONF_DIR)/quiesced.conf ] || \
	    $(INSTALL) -m 0644 $(DIST)/quiesced.conf $(DESTDIR)$(CONF_DIR)/quiesced.conf
	@for m in $(filter-out man/libquiesce.3,$(MANPAGES)); do \
	    s=$${m##*.}; echo "$(INSTALL) -D -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s/$${m#man/}"; \
	    $(INSTALL) -D -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s/$${m#man/} || exit 1; \
	done

uninstall: $(DIST)/quiesced.conf uninstall-lib
	rm -f $(DESTDIR)$(SBINDIR)/quiesced $(DESTDIR)$(BINDIR)/quiescectl \
	    $(DESTDIR)$(GUARDIAN_DIR)/quiesce-guardian
	rmdir $(DESTDIR)$(GUARDIAN_DIR) 2>/dev/null || true
	rm -f $(UNITS:%=$(DESTDIR)$(UNITDIR)/%) $(DESTDIR)$(UDEVRULESDIR)/60-quiesce.rules \
	    $(DESTDIR)$(QGA_HOOK)
	rm -f $(foreach m,$(filter-out man/libquiesce.3,$(MANPAGES)), \
	    $(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(m)))/$(notdir $(m)))
	@# The config goes only if it is still the example; hooks.d only if empty.
	if cmp -s $(DIST)/quiesced.conf $(DESTDIR)$(CONF_DIR)/quiesced.conf; then \
	    rm -f $(DESTDIR)$(CONF_DIR)/quiesced.conf; fi
	rmdir $(DESTDIR)$(CONF_DIR)/hooks.d $(DESTDIR)$(CONF_DIR) 2>/dev/null || true
