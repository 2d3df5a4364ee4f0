# The key file's permissions: qmgrd's warning and refusal at start, and
# qmgrctl's (the client library's) refusal of a key others can write.
add_test(NAME integration.test_keyfile
         COMMAND ${Python3_EXECUTABLE} -m unittest -v test_keyfile
         WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
set_tests_properties(integration.test_keyfile PROPERTIES
  ENVIRONMENT "QMGRD=$<TARGET_FILE:qmgrd>;QMGRCTL=$<TARGET_FILE:qmgrctl>;PYTHONDONTWRITEBYTECODE=1"
  TIMEOUT 300
  LABELS integration)
