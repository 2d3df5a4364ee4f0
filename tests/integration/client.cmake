# libqmgr-client and qmgrctl against a real qmgrd.
#  - test_client_lib: every library call (check; one ctest entry per case),
#    each test starting its own daemon from $QMGRD.
#  - test_qmgrctl.py: each qmgrctl command's output and exit code, --json
#    parsed back by Python.
#  - test_bench.py: qmgr-bench's workloads and --json report.
#  - test_client_install.py: `cmake --install` into a temporary prefix, then
#    a tiny program built through pkg-config and through find_package(qmgr).
add_executable(test_client_lib ${CMAKE_CURRENT_LIST_DIR}/test_client_lib.c)
target_link_libraries(test_client_lib PRIVATE qmgr-client PkgConfig::CHECK PkgConfig::MSGPACK)
qmgr_check_cases(${CMAKE_CURRENT_LIST_DIR}/test_client_lib.c client_lib_cases)
foreach(tc ${client_lib_cases})
  add_test(NAME integration.client_lib.${tc} COMMAND test_client_lib)
  set_tests_properties(integration.client_lib.${tc} PROPERTIES
    ENVIRONMENT "CK_RUN_CASE=${tc};QMGRD=$<TARGET_FILE:qmgrd>"
    TIMEOUT 300 LABELS integration)
endforeach()

add_test(NAME integration.qmgrctl
         COMMAND ${Python3_EXECUTABLE} -m unittest -v test_qmgrctl
         WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
set_tests_properties(integration.qmgrctl PROPERTIES
  ENVIRONMENT "QMGRD=$<TARGET_FILE:qmgrd>;QMGRCTL=$<TARGET_FILE:qmgrctl>;PYTHONDONTWRITEBYTECODE=1"
  TIMEOUT 600 LABELS integration)

add_test(NAME integration.bench
         COMMAND ${Python3_EXECUTABLE} -m unittest -v test_bench
         WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
set_tests_properties(integration.bench PROPERTIES
  ENVIRONMENT "QMGRD=$<TARGET_FILE:qmgrd>;QMGR_BENCH=$<TARGET_FILE:qmgr-bench>;PYTHONDONTWRITEBYTECODE=1"
  TIMEOUT 600 LABELS integration)

set(QMGR_SANITIZE_FLAGS "")
if(QMGR_SANITIZE)
  set(QMGR_SANITIZE_FLAGS "-fsanitize=address,undefined")
endif()
add_test(NAME integration.client_install
         COMMAND ${Python3_EXECUTABLE} -m unittest -v test_client_install
         WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
set_tests_properties(integration.client_install PROPERTIES
  ENVIRONMENT "QMGRD=$<TARGET_FILE:qmgrd>;QMGR_BUILD_DIR=${CMAKE_BINARY_DIR};QMGR_CMAKE=${CMAKE_COMMAND};CC=${CMAKE_C_COMPILER};QMGR_SANITIZE_FLAGS=${QMGR_SANITIZE_FLAGS};PYTHONDONTWRITEBYTECODE=1"
  TIMEOUT 600 LABELS integration)
