# SPDX-License-Identifier: MIT
# Database agents (agents/<db>/): long-lived libquiesce apps that take part in
# snapshots for a database, each linked with its database's client library, and
# their shared skeleton (agents/common/). Installed with the rest (make install);
# in Debian each is its own package, so quiesce itself never pulls in libpq.
#
#   quiesce-agent-postgresql   agents/postgresql/ + libpq (man/quiesce-agent-postgresql.8)
#   quiesce-agent-mariadb      agents/mariadb/ + MariaDB Connector/C (man/quiesce-agent-mariadb.8)

AGENT_COMMON_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard agents/common/*.c)) \
	$(BUILD)/obj/src/fs/mountinfo.o $(BUILD)/obj/src/common/util.o
PG_CFLAGS := $(shell pkg-config --cflags libpq 2>/dev/null || echo -I/usr/include/postgresql)
PG_LIBS   := $(shell pkg-config --libs libpq 2>/dev/null || echo -lpq)
AGENT_PG_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard agents/postgresql/*.c))

$(AGENT_PG_OBJ) $(AGENT_COMMON_OBJ): CPPFLAGS += -Iagents/common $(PG_CFLAGS)

# Static libquiesce (mk/lib.mk, read after this fragment: named, not $(LIBQ_A)): the agent's package depends on libpq5 alone, and the library's
# wire format is the one this tree's quiesced speaks.
$(BUILD)/quiesce-agent-postgresql: $(AGENT_PG_OBJ) $(AGENT_COMMON_OBJ) $(BUILD)/libquiesce.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PG_LIBS)

PROGRAMS += $(BUILD)/quiesce-agent-postgresql

MDB_CFLAGS := $(shell pkg-config --cflags libmariadb 2>/dev/null || echo -I/usr/include/mariadb)
MDB_LIBS   := $(shell pkg-config --libs libmariadb 2>/dev/null || echo -lmariadb)
AGENT_MDB_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard agents/mariadb/*.c))
$(AGENT_MDB_OBJ): CPPFLAGS += -Iagents/common $(MDB_CFLAGS)

$(BUILD)/quiesce-agent-mariadb: $(AGENT_MDB_OBJ) $(AGENT_COMMON_OBJ) $(BUILD)/libquiesce.a
	$(CC) $(LDFLAGS) -o $@ $^ $(MDB_LIBS)

PROGRAMS += $(BUILD)/quiesce-agent-mariadb

AGENT_PROGRAMS := quiesce-agent-postgresql quiesce-agent-mariadb
AGENT_UNITS := quiesce-agent-postgresql.service quiesce-agent-mariadb.service

all: $(AGENT_UNITS:%=$(BUILD)/dist/%)

# Added to mk/install.mk's targets (the man pages are every man/*.[1-8] there).
.PHONY: install-agents uninstall-agents
installable: $(AGENT_PROGRAMS:%=$(BUILD)/%) $(AGENT_UNITS:%=$(BUILD)/dist/%)
install: install-agents
uninstall: uninstall-agents

install-agents: $(AGENT_PROGRAMS:%=$(BUILD)/%) $(AGENT_UNITS:%=$(BUILD)/dist/%)
	$(INSTALL) -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(UNITDIR)
	$(INSTALL) -m 0755 $(AGENT_PROGRAMS:%=$(BUILD)/%) $(DESTDIR)$(SBINDIR)/
	$(INSTALL) -m 0644 $(AGENT_UNITS:%=$(BUILD)/dist/%) $(DESTDIR)$(UNITDIR)/

uninstall-agents:
	rm -f $(AGENT_PROGRAMS:%=$(DESTDIR)$(SBINDIR)/%) $(AGENT_UNITS:%=$(DESTDIR)$(UNITDIR)/%)

# The restore test's writer (tests/integration/db_postgresql.py): not a test itself.
$(BUILD)/pgwriter: $(BUILD)/obj/tests/tools/pgwriter.o
	$(CC) $(LDFLAGS) -o $@ $^ $(PG_LIBS)
$(BUILD)/obj/tests/tools/pgwriter.o: CPPFLAGS += $(PG_CFLAGS) -Itests/tools
PROGRAMS += $(BUILD)/pgwriter
$(BUILD)/mdbwriter: $(BUILD)/obj/tests/tools/mdbwriter.o
	$(CC) $(LDFLAGS) -o $@ $^ $(MDB_LIBS)
$(BUILD)/obj/tests/tools/mdbwriter.o: CPPFLAGS += $(MDB_CFLAGS) -Itests/tools
PROGRAMS += $(BUILD)/mdbwriter

# Unit tests of the agents' pure parts (the rest: tests/integration/db_postgresql*.py).
$(BUILD)/obj/tests/unit/test_agent.o: CPPFLAGS += -Iagents/common -Iagents/postgresql \
    -Iagents/mariadb $(PG_CFLAGS) $(MDB_CFLAGS)
# (The rule is mk/unit.mk's.)
UNIT_TESTS += agent
UNIT_SRC_agent := agents/common/agent.c agents/postgresql/pgagent.c agents/postgresql/pgconn.c \
	agents/common/cover.c agents/mariadb/mdbagent.c agents/mariadb/mdbconn.c \
	src/fs/mountinfo.c src/common/util.c $(BUILD)/libquiesce.a
UNIT_LIBS_agent := $(PG_LIBS) $(MDB_LIBS)
