# client/: libqmgr-client against a fake daemon (hostile replies, pipelining,
# reconnect) and its value parsing. The fake daemon uses the real server
# handshake, hence qmgr_proto.
qmgr_check_test(test_client SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_client.c
                LIBS qmgr-client-static qmgr_proto)
