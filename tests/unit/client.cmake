# client/: libqmgr-client against a fake daemon (hostile replies, pipelining,
# reconnect) and its value parsing. The fake daemon uses the real server
# handshake, hence qmgr_proto.
qmgr_check_test(test_client SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_client.c
                LIBS qmgr-client-static qmgr_proto)
# Finding the daemon (qmgr_target_resolve), through the public API of the
# static library: the same one a user links.
qmgr_check_test(test_target SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_target.c
                LIBS qmgr-client-static)
