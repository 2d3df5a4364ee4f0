# The daemon's data model, driven with no event loop.
qmgr_check_test(test_itemq SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_itemq.c LIBS qmgrd_core)
qmgr_check_test(test_queue SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_queue.c LIBS qmgrd_core)
qmgr_check_test(test_session_output SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_session_output.c LIBS qmgrd_core)
qmgr_check_test(test_buf SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_buf.c LIBS qmgrd_core)
qmgr_check_test(test_journal SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_journal.c LIBS qmgrd_core)
qmgr_check_test(test_determinism SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_determinism.c LIBS qmgrd_core)
qmgr_check_test(test_cluster_input SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_cluster_input.c LIBS qmgrd_core)
qmgr_check_test(test_log_codec SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_log_codec.c LIBS qmgrd_core)
