# proto/: the msgpack validator and reader, the RPC decoder, the handshake.
set(proto_fuzz_sources
    ${qmgr_root}/common/bytes.c
    ${qmgr_root}/proto/mp.c
    ${qmgr_root}/proto/rpc.c
    ${qmgr_root}/proto/handshake_mac.c
    ${qmgr_root}/proto/handshake_client.c
    ${qmgr_root}/proto/handshake_server.c)

foreach(target fuzz_mp_scan fuzz_rpc fuzz_handshake)
  qmgr_fuzz_target(${target} SOURCES ${proto_fuzz_sources}
                   LIBS PkgConfig::MSGPACK PkgConfig::SODIUM PkgConfig::NETTLE)
endforeach()
