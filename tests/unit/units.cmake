# Unit tests and what they link. Add one line per tests/unit/test_<name>.c.
sb_add_unit_test(util LIBS sbutil)
sb_add_unit_test(eio LIBS sbproto)
sb_add_unit_test(sio LIBS sbproto)
sb_add_unit_test(wsjson LIBS sbproto)
sb_add_unit_test(query LIBS sbproto)
sb_add_unit_test(jwt LIBS sbjwt PkgConfig::CRYPTO PkgConfig::JANSSON)
sb_add_unit_test(auth_static LIBS sbtokens PkgConfig::CRYPTO)
