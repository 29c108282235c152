##@ Install (the C library, its header and wspsan.pc)

PREFIX          ?= /usr/local
INSTALL_PROFILE ?= release

.PHONY: install c-install-test

install: check-tools ## install the libraries, the header and wspsan.pc under PREFIX (DESTDIR honoured)
	$(CARGO) build -p wspsan-capi $(if $(filter release,$(INSTALL_PROFILE)),--release)
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 644 target/$(INSTALL_PROFILE)/libwspsan.a $(DESTDIR)$(PREFIX)/lib/libwspsan.a
	install -m 755 target/$(INSTALL_PROFILE)/libwspsan.so $(DESTDIR)$(PREFIX)/lib/libwspsan.so
	install -m 644 include/wspsan.h $(DESTDIR)$(PREFIX)/include/wspsan.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(WSPSAN_VERSION)|g' \
	    capi/wspsan.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/wspsan.pc

c-install-test: check-tools ## make install into a scratch prefix, build against it (shared, static)
	tests/c/install_test.sh
