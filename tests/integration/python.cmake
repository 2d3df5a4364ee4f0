# Integration tests: a real qmgrd driven over real sockets by Python's
# standard library + python3-msgpack (Debian's interpreter, Python3_EXECUTABLE).
# One ctest entry per module (test_methods per class, so no entry is huge).
set(qmgr_integration_suites
  test_methods.TestDiscovery
  test_methods.TestHandshakeKeys
  test_methods.TestQueueMethods
  test_methods.TestBufMethods
  test_blocking
  test_redelivery
  test_large_items
  test_hostile
  test_hostile_more
  test_lifecycle
  test_python_client
)
foreach(suite ${qmgr_integration_suites})
  add_test(NAME integration.${suite}
           COMMAND ${Python3_EXECUTABLE} -m unittest -v ${suite}
           WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
  set_tests_properties(integration.${suite} PROPERTIES
    ENVIRONMENT "QMGRD=$<TARGET_FILE:qmgrd>;PYTHONDONTWRITEBYTECODE=1"
    TIMEOUT 600
    LABELS integration)
endforeach()
