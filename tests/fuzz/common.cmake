# common/: the configuration reader, fed arbitrary files.
qmgr_fuzz_target(fuzz_config
                 SOURCES ${qmgr_root}/common/config.c ${qmgr_root}/common/address.c
                         ${qmgr_root}/common/log.c
                         ${qmgr_root}/common/bytes.c ${qmgr_root}/common/authkey.c
                         ${qmgr_root}/common/paths.c
                 LIBS PkgConfig::INIH PkgConfig::SODIUM)
