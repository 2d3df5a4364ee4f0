# proto/: msgpack scanner and reader, msgpack-RPC framing, the HMAC handshake.
qmgr_check_test(test_mp SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_mp.c LIBS qmgr_proto)
qmgr_check_test(test_rpc SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_rpc.c LIBS qmgr_proto)
qmgr_check_test(test_handshake SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_handshake.c
                LIBS qmgr_proto PkgConfig::NETTLE)
