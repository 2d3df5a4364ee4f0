# The system service: sd_notify from a real daemon, and the unit's lint.
add_test(NAME integration.test_service
         COMMAND ${Python3_EXECUTABLE} -m unittest -v test_service
         WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
set_tests_properties(integration.test_service PROPERTIES
  ENVIRONMENT "QMGRD=$<TARGET_FILE:qmgrd>;QMGR_UNIT_FILE=${PROJECT_BINARY_DIR}/systemd/qmgrd.service;PYTHONDONTWRITEBYTECODE=1"
  TIMEOUT 300 LABELS integration)
