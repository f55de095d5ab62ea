# tollgate - the control tool (ops/tollgate*.c): map, status, stats,
# reload, stop, version, check-config, postfix-config, quarantine, release,
# explain (which runs the workers' own message path: libtgworkers and the
# scanners)
bin_PROGRAMS += tollgate
tollgate_SOURCES = ops/tollgate.c ops/tollgate.h ops/tollgate_ctl.c ops/tollgate_postfix.c \
	ops/tollgate_state.c ops/tollgate_explain.c
tollgate_CPPFLAGS = $(AM_CPPFLAGS) -DSBINDIR='"$(sbindir)"'
tollgate_LDADD = workers/libtgworkers.a routing/libtgrouting.a $(SCANNER_LIBS_A) lib/libtgbase.a $(BASE_LIBS)

# --- installation: the unit, the default configuration, the man pages.
# Paths are substituted at build time (make variables, so "make
# prefix=..." and DESTDIR work); every hook honours $(DESTDIR).
systemdsystemunitdir = $(prefix)/lib/systemd/system
systemdsystemunit_DATA = ops/tollgated.service
man_MANS = ops/tollgated.8 ops/tollgate.1 ops/tollgate.conf.5
OPS_GENERATED = ops/tollgated.service ops/tollgated.8 ops/tollgate.1 ops/tollgate.conf.5
CLEANFILES += $(OPS_GENERATED)
EXTRA_DIST += ops/tollgated.service.in ops/tollgated.8.in ops/tollgate.1.in ops/conf2man.sh
# the Debian package (debian/README.source) and its test, a stage of
# ops/quickstart test
EXTRA_DIST += debian tests/package.sh
EXTRA_DIST += ops/prometheus/tollgate.rules.yml ops/prometheus/tollgate.rules.test.yml \
	ops/prometheus/grafana-tollgate.json ops/prometheus/README.md

# what the unit lets tollgated write (ReadWritePaths=): the defaults'
# tmp_dir and /run; a configuration that keeps to /var/lib/tollgate and
# /run/tollgate (the Debian package's) needs only /var/lib/tollgate
TG_UNIT_RW_PATHS = /var/lib/tollgate /var/tmp /run
ops_subst = sed -e 's|@sbindir[@]|$(sbindir)|g' -e 's|@bindir[@]|$(bindir)|g' \
	-e 's|@sysconfdir[@]|$(sysconfdir)|g' -e 's|@PACKAGE_VERSION[@]|$(PACKAGE_VERSION)|g' \
	-e 's|@TG_UNIT_RW_PATHS[@]|$(TG_UNIT_RW_PATHS)|g'

ops/tollgated.service: $(srcdir)/ops/tollgated.service.in Makefile
	@$(MKDIR_P) ops
	$(AM_V_GEN)$(ops_subst) $(srcdir)/ops/tollgated.service.in > $@.tmp && mv $@.tmp $@
ops/tollgated.8: $(srcdir)/ops/tollgated.8.in Makefile
	@$(MKDIR_P) ops
	$(AM_V_GEN)$(ops_subst) $(srcdir)/ops/tollgated.8.in > $@.tmp && mv $@.tmp $@
ops/tollgate.1: $(srcdir)/ops/tollgate.1.in Makefile
	@$(MKDIR_P) ops
	$(AM_V_GEN)$(ops_subst) $(srcdir)/ops/tollgate.1.in > $@.tmp && mv $@.tmp $@
# tollgate.conf(5) from the reference that tests/conf_reference.sh keeps
# equal to "tollgated -r"
ops/tollgate.conf.5: $(srcdir)/ops/tollgate.conf $(srcdir)/ops/conf2man.sh
	@$(MKDIR_P) ops
	$(AM_V_GEN)$(SHELL) $(srcdir)/ops/conf2man.sh $(srcdir)/ops/tollgate.conf > $@.tmp && mv $@.tmp $@

# the default configuration: installed once, never over an existing file;
# uninstall removes it only when it is still the shipped one
tollgateconfdir = $(sysconfdir)/tollgate
install-data-local: install-tollgate-conf
install-tollgate-conf:
	$(MKDIR_P) '$(DESTDIR)$(tollgateconfdir)'
	@if test -f '$(DESTDIR)$(tollgateconfdir)/tollgate.conf'; then \
		echo "keeping existing $(DESTDIR)$(tollgateconfdir)/tollgate.conf"; \
	else \
		echo " $(INSTALL_DATA) $(srcdir)/ops/tollgate.conf '$(DESTDIR)$(tollgateconfdir)/tollgate.conf'"; \
		$(INSTALL_DATA) $(srcdir)/ops/tollgate.conf '$(DESTDIR)$(tollgateconfdir)/tollgate.conf'; \
	fi
uninstall-local: uninstall-tollgate-conf
uninstall-tollgate-conf:
	@f='$(DESTDIR)$(tollgateconfdir)/tollgate.conf'; \
	if test -f "$$f" && cmp -s "$$f" $(srcdir)/ops/tollgate.conf; then \
		echo " rm -f $$f"; rm -f "$$f"; \
	elif test -f "$$f"; then echo "keeping modified $$f"; fi
	-rmdir '$(DESTDIR)$(tollgateconfdir)' 2>/dev/null
.PHONY: install-tollgate-conf uninstall-tollgate-conf
