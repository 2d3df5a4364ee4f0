# docs/protocol.md against the method table and the error codes.
qmgr_check_test(test_protocol_doc SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_protocol_doc.c
                LIBS qmgr_proto_client)
target_compile_definitions(test_protocol_doc PRIVATE
  QMGR_PROTOCOL_MD="${PROJECT_SOURCE_DIR}/docs/protocol.md")
