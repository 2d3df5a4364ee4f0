# proto/: msgpack scanner and reader, msgpack-RPC framing, the HMAC handshake.
qmgr_check_test(test_mp SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_mp.c LIBS qmgr_proto
                CASES scan hostile numbers reader skip)
qmgr_check_test(test_rpc SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_rpc.c LIBS qmgr_proto
                CASES request request_invalid response frame)
qmgr_check_test(test_handshake SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_handshake.c
                LIBS qmgr_proto PkgConfig::NETTLE
                CASES mutual wrong_key legacy known_answers hostile)
