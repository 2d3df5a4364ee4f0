# The daemon's input parsers: the journal reader (replay of arbitrary files)
# and the params checker behind every method.
file(GLOB server_fuzz_sources ${qmgr_root}/server/*.c ${qmgr_root}/proto/*.c)
list(REMOVE_ITEM server_fuzz_sources ${qmgr_root}/server/main.c)
list(APPEND server_fuzz_sources ${qmgr_root}/common/bytes.c ${qmgr_root}/common/log.c
     ${qmgr_root}/common/authkey.c ${qmgr_root}/common/config.c ${qmgr_root}/common/crc32c.c
     ${qmgr_root}/common/paths.c)

foreach(target fuzz_journal fuzz_params)
  qmgr_fuzz_target(${target} SOURCES ${server_fuzz_sources}
                   LIBS PkgConfig::MSGPACK PkgConfig::SODIUM PkgConfig::NETTLE
                        PkgConfig::LIBEVENT PkgConfig::INIH PkgConfig::ISAL m)
endforeach()
