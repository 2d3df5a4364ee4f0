# common/: configuration, authkey, logging, address lists.
qmgr_check_test(test_config SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_config.c LIBS qmgr_config)
target_compile_definitions(test_config PRIVATE QMGR_EXAMPLE_CONF="${PROJECT_SOURCE_DIR}/conf/qmgrd.conf")

qmgr_check_test(test_authkey SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_authkey.c LIBS qmgr_common)

qmgr_check_test(test_log SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_log.c LIBS qmgr_common)

qmgr_check_test(test_address SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_address.c LIBS qmgr_common)
