# The Debian package (`make deb`, README.md "Debian package"): included when SB_PACKAGE is ON,
# in a build configured with CMAKE_INSTALL_PREFIX=/usr (the Makefile's build-release/). Adds
# what only a system package installs — /etc/switchboard/switchboard.conf (a conffile), the
# systemd unit, the man page, /usr/share/doc/switchboard — and the CPack DEB settings:
# `cpack -G DEB` in that build writes switchboard_<version>_<arch>.deb.
if(NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  message(FATAL_ERROR "SB_PACKAGE needs -DCMAKE_INSTALL_PREFIX=/usr (is ${CMAKE_INSTALL_PREFIX}): "
                      "the binary's compiled-in plugin directory must be the package's")
endif()

# packaging/changelog is the package's (native) Debian changelog: its last entry names the
# version, which must be the project's.
file(STRINGS packaging/changelog sb_changelog_top LIMIT_COUNT 1)
if(NOT sb_changelog_top MATCHES "^switchboard \\(${PROJECT_VERSION}\\) ")
  message(FATAL_ERROR "packaging/changelog: the last entry is '${sb_changelog_top}', "
                      "not version ${PROJECT_VERSION} of project(): add an entry")
endif()

# Directories 0755 whatever the umask (dpkg installs them as packaged).
set(CMAKE_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
    OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)

set(SB_DEB_PLUGIN_DIR ${CMAKE_INSTALL_FULL_LIBDIR}/switchboard/plugins)
set(SB_DEB_SCRIPTS_DIR ${CMAKE_INSTALL_FULL_DATADIR}/switchboard/scripts)
configure_file(packaging/switchboard.conf.in switchboard.conf @ONLY)
# GNUInstallDirs makes the full sysconfdir /etc for the /usr prefix; the unit goes where
# Debian 12's systemd units are (/lib/systemd/system, lintian's systemd-service-file-outside-lib).
install(FILES ${CMAKE_BINARY_DIR}/switchboard.conf DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/switchboard)
install(FILES packaging/switchboard.service DESTINATION /lib/systemd/system)

# Man page and changelog compressed as Debian wants them: gzip -9, no name or timestamp.
foreach(sb_gz switchboard.1 changelog)
  add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/${sb_gz}.gz
    COMMAND gzip -9nc ${PROJECT_SOURCE_DIR}/packaging/${sb_gz} > ${CMAKE_BINARY_DIR}/${sb_gz}.gz
    DEPENDS packaging/${sb_gz} VERBATIM)
endforeach()
add_custom_target(deb-files ALL DEPENDS ${CMAKE_BINARY_DIR}/switchboard.1.gz
                  ${CMAKE_BINARY_DIR}/changelog.gz)
install(FILES ${CMAKE_BINARY_DIR}/switchboard.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
set(sb_docdir ${CMAKE_INSTALL_DATADIR}/doc/switchboard)
install(FILES packaging/copyright ${CMAKE_BINARY_DIR}/changelog.gz README.md
        DESTINATION ${sb_docdir})
install(DIRECTORY docs/ DESTINATION ${sb_docdir}/docs FILES_MATCHING PATTERN "*.md")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME switchboard)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGE_CONTACT "Seed d6383ff0 maintainers <maintainers@users.noreply.r-seed-d6383ff0.example>"
    CACHE STRING "Maintainer field of the Debian package")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "real-time server for Socket.IO and WebSocket clients")
# CPack puts the summary first (the synopsis), then this (the extended description).
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "switchboard keeps the WebSocket and HTTP long-polling connections of
socket.io-client 2.x and 4.x and of plain WebSocket JSON clients, who they
belong to and which rooms they are in. Lua gateways decide what each event
does; C plugins authenticate connections (static tokens, JWT, an HTTP
service) and intercept events. Several instances form one cluster through
Redis, speaking the socket.io Redis adapter protocol.
.
This package holds the server, its plugins, the example gateways, a systemd
service running as the switchboard system user, and the plugin SDK (headers,
pkg-config file and CMake package) to build plugins of your own.")
set(SB_DEB_HOMEPAGE "" CACHE STRING "Homepage field of the Debian package (none when empty)")
if(SB_DEB_HOMEPAGE)
  set(CPACK_DEBIAN_PACKAGE_HOMEPAGE ${SB_DEB_HOMEPAGE})
endif()
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# adduser: the postinst creates the system user. CMake 3.25's CPack marks no conffiles on its
# own: packaging/conffiles lists the one file of /etc.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/postinst ${PROJECT_SOURCE_DIR}/packaging/prerm
    ${PROJECT_SOURCE_DIR}/packaging/postrm ${PROJECT_SOURCE_DIR}/packaging/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
