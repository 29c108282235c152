##@ Install (the C library, its headers and pkg-config files)

# The GNU layout under PREFIX; DESTDIR is put in front of every path written (staged installs,
# packages) and never into the installed files. A LIBDIR or INCLUDEDIR under PREFIX is written to
# the .pc files as ${prefix}/..., so the prefix stays in one place.
PREFIX          ?= /usr/local
LIBDIR          ?= $(PREFIX)/lib
INCLUDEDIR      ?= $(PREFIX)/include
PKGCONFIGDIR    ?= $(LIBDIR)/pkgconfig
# The separated debug info: GDB finds LIBDIR/.debug/<file>.debug through the library's
# .gnu_debuglink without any configuration. INSTALL_DEBUG=0 leaves it out.
DEBUGDIR        ?= $(LIBDIR)/.debug
INSTALL_DEBUG   ?= 1
INSTALL_PROFILE ?= release
INSTALL         ?= install
OBJCOPY         ?= objcopy
STRIP           ?= strip

# libwspsan.so.X.Y.Z, with the links libwspsan.so.SOVER (the SONAME, which capi/build.rs gives
# the library: X; 0.Y while X is 0; 0.0.Z while X and Y are) and libwspsan.so (what -lwspsan
# finds at link time).
version_parts := $(subst ., ,$(WSPSAN_VERSION))
SOVER      := $(if $(filter-out 0,$(word 1,$(version_parts))),$(word 1,$(version_parts)),$(if \
                  $(filter-out 0,$(word 2,$(version_parts))),0.$(word 2,$(version_parts)),$(WSPSAN_VERSION)))
SONAME     := libwspsan.so.$(SOVER)
SO_REAL    := libwspsan.so.$(WSPSAN_VERSION)
LIB_STAGE  := build/lib/$(INSTALL_PROFILE)
LIB_STAGED := $(LIB_STAGE)/$(SO_REAL) $(LIB_STAGE)/$(SO_REAL).debug $(LIB_STAGE)/libwspsan.a
HEADERS    := include/wspsan.h
SUBHEADERS := $(wildcard include/wspsan/*.h)
PC_FILES   := $(LIB_STAGE)/wspsan.pc $(LIB_STAGE)/wspsan-static.pc
pc_path     = $(patsubst $(PREFIX)/%,$${prefix}/%,$(1))

.PHONY: lib install uninstall c-install-test FORCE

# The cargo build keeps its debug info (the release profile has debug = 1, for the benchmarks'
# profiles and backtraces); what is installed is stripped, the way distributions do it:
#   the .so: its debug info copied to libwspsan.so.X.Y.Z.debug (objcopy --only-keep-debug),
#            then --strip-unneeded, and a .gnu_debuglink naming the .debug file;
#   the .a:  --strip-debug (its symbols stay, a linker needs them) and without the LLVM bitcode
#            that Rust's std objects embed for rustc's own LTO (.llvmbc, .llvmcmd: no C linker
#            reads them), deterministic.
$(LIB_STAGED) &: target/$(INSTALL_PROFILE)/libwspsan.so target/$(INSTALL_PROFILE)/libwspsan.a
	@mkdir -p $(LIB_STAGE)
	rm -f $(LIB_STAGED)
	$(OBJCOPY) --only-keep-debug target/$(INSTALL_PROFILE)/libwspsan.so $(LIB_STAGE)/$(SO_REAL).debug
	$(STRIP) --strip-unneeded --remove-section=.comment -o $(LIB_STAGE)/$(SO_REAL) target/$(INSTALL_PROFILE)/libwspsan.so
	cd $(LIB_STAGE) && $(OBJCOPY) --add-gnu-debuglink=$(SO_REAL).debug $(SO_REAL)
	$(STRIP) --strip-debug --remove-section=.comment --remove-section=.llvmbc --remove-section=.llvmcmd \
	    --enable-deterministic-archives \
	    -o $(LIB_STAGE)/libwspsan.a target/$(INSTALL_PROFILE)/libwspsan.a
	@ls -l target/$(INSTALL_PROFILE)/libwspsan.so target/$(INSTALL_PROFILE)/libwspsan.a $(LIB_STAGED) \
	    | awk '{ printf "  %6.1f MB  %s\n", $$5 / 1e6, $$NF }'

# Rewritten on every install: they hold the paths of this install.
$(PC_FILES): $(LIB_STAGE)/%.pc: capi/%.pc.in FORCE
	@mkdir -p $(@D)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(call pc_path,$(LIBDIR))|g' \
	    -e 's|@INCLUDEDIR@|$(call pc_path,$(INCLUDEDIR))|g' -e 's|@VERSION@|$(WSPSAN_VERSION)|g' \
	    -e 's|@LIBS_PRIVATE@|$(C_LDLIBS)|g' $< > $@

FORCE:

lib: $(LIB_STAGED) ## the stripped libraries and the .so's debug file in build/lib/INSTALL_PROFILE/ (sizes shown)

install: check-tools $(LIB_STAGED) $(PC_FILES) ## install libwspsan (.so.X.Y.Z, links, .a), headers, wspsan.pc, wspsan-static.pc
	@test -n "$(WSPSAN_VERSION)" || { echo "error: no WSPSAN_VERSION_STRING in include/wspsan.h"; exit 1; }
	$(INSTALL) -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(INCLUDEDIR)
	$(INSTALL) -m 755 $(LIB_STAGE)/$(SO_REAL) $(DESTDIR)$(LIBDIR)/$(SO_REAL)
	ln -sfn $(SO_REAL) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sfn $(SONAME) $(DESTDIR)$(LIBDIR)/libwspsan.so
	$(INSTALL) -m 644 $(LIB_STAGE)/libwspsan.a $(DESTDIR)$(LIBDIR)/libwspsan.a
	if [ "$(INSTALL_DEBUG)" = 1 ]; then \
	    $(INSTALL) -d $(DESTDIR)$(DEBUGDIR); \
	    $(INSTALL) -m 644 $(LIB_STAGE)/$(SO_REAL).debug $(DESTDIR)$(DEBUGDIR)/$(SO_REAL).debug; \
	fi
	$(INSTALL) -m 644 $(HEADERS) $(DESTDIR)$(INCLUDEDIR)/
	if [ -n "$(SUBHEADERS)" ]; then \
	    $(INSTALL) -d $(DESTDIR)$(INCLUDEDIR)/wspsan; \
	    $(INSTALL) -m 644 $(SUBHEADERS) $(DESTDIR)$(INCLUDEDIR)/wspsan/; \
	fi
	$(INSTALL) -m 644 $(PC_FILES) $(DESTDIR)$(PKGCONFIGDIR)/

# Removes what install writes (every version's libwspsan.so.* and its debug file), then the
# directories that are wspsan's own if they are empty; LIBDIR, INCLUDEDIR and PKGCONFIGDIR stay.
uninstall: ## remove what make install wrote under the same DESTDIR/PREFIX/LIBDIR/INCLUDEDIR
	rm -f $(DESTDIR)$(LIBDIR)/libwspsan.so $(DESTDIR)$(LIBDIR)/libwspsan.so.* $(DESTDIR)$(LIBDIR)/libwspsan.a
	rm -f $(DESTDIR)$(DEBUGDIR)/libwspsan.so.*.debug
	rm -f $(DESTDIR)$(INCLUDEDIR)/wspsan.h $(DESTDIR)$(INCLUDEDIR)/wspsan/*.h
	rm -f $(DESTDIR)$(PKGCONFIGDIR)/wspsan.pc $(DESTDIR)$(PKGCONFIGDIR)/wspsan-static.pc
	for d in $(DESTDIR)$(DEBUGDIR) $(DESTDIR)$(INCLUDEDIR)/wspsan; do \
	    [ ! -d "$$d" ] || rmdir --ignore-fail-on-non-empty "$$d"; \
	done

c-install-test: check-tools ## make install into a scratch prefix, build and run against it (shared, static), uninstall
	tests/c/install_test.sh
