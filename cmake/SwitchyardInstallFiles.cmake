# Installs the files that belong outside the prefix on a system install: the daemon config in
# SYSCONFDIR/switchyard and the systemd unit. Run at install time (install(SCRIPT)), because the
# prefix is only known then: `cmake --install build --prefix DIR` and cpack both change it after
# configuration, and CMAKE_INSTALL_FULL_SYSCONFDIR is fixed at configure time.
#
# The rule is GNUInstallDirs' own, applied to the prefix in use: prefix /usr gives /etc, /opt/...
# gives /etc/opt/..., any other prefix gives PREFIX/etc. The unit goes to systemd's unit directory
# (pkg-config systemd) for prefix /usr and to PREFIX/lib/systemd/system otherwise, so that an
# install into a private prefix writes nothing outside it. file(INSTALL) adds $ENV{DESTDIR}.
#
# Inputs, set by the top-level CMakeLists.txt: SWITCHYARD_SOURCE_DIR, SWITCHYARD_SYSCONFDIR (as
# given to GNUInstallDirs: relative or absolute), SWITCHYARD_SYSTEMD_UNITDIR (absolute, or empty).

if(IS_ABSOLUTE "${SWITCHYARD_SYSCONFDIR}")
  set(etc "${SWITCHYARD_SYSCONFDIR}")
elseif(CMAKE_INSTALL_PREFIX MATCHES "^/usr/?$")
  set(etc "/${SWITCHYARD_SYSCONFDIR}")
elseif(CMAKE_INSTALL_PREFIX MATCHES "^/opt/(.*)")
  string(REGEX REPLACE "/$" "" opt_name "${CMAKE_MATCH_1}")
  set(etc "/${SWITCHYARD_SYSCONFDIR}/opt/${opt_name}")
else()
  set(etc "${CMAKE_INSTALL_PREFIX}/${SWITCHYARD_SYSCONFDIR}")
endif()

if(CMAKE_INSTALL_PREFIX MATCHES "^/usr/?$" AND SWITCHYARD_SYSTEMD_UNITDIR)
  set(unitdir "${SWITCHYARD_SYSTEMD_UNITDIR}")
else()
  set(unitdir "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
endif()

file(INSTALL DESTINATION "${etc}/switchyard" TYPE FILE
  FILES "${SWITCHYARD_SOURCE_DIR}/deploy/switchyard.yaml")
file(INSTALL DESTINATION "${etc}/switchyard/functions.d" TYPE FILE
  FILES "${SWITCHYARD_SOURCE_DIR}/deploy/functions.d/README")
file(INSTALL DESTINATION "${unitdir}" TYPE FILE
  FILES "${SWITCHYARD_SOURCE_DIR}/deploy/switchyard.service")
