# The Python client package (client/python/src/qmgr) against a real qmgrd:
# test_pyclient.py, and test_pyclient_aio.py for its asyncio client qmgr.aio,
# one ctest entry per class, registered like durability.cmake. PYTHONPATH is
# the source tree, so the tests use the package as checked out; TestInstall
# (in both) runs `cmake --install` of its component from QMGR_BUILD_DIR with
# QMGR_CMAKE into a temporary prefix and imports it from there with a clean
# PYTHONPATH.
set(qmgr_pyclient_suites
  test_pyclient.TestErrors
  test_pyclient.TestQueueProxy
  test_pyclient.TestBufProxy
  test_pyclient.TestClient
  test_pyclient.TestValues
  test_pyclient.TestManager
  test_pyclient.TestAddress
  test_pyclient.TestFakeServer
  test_pyclient.TestForkSafety
  test_pyclient.TestThreadSafety
  test_pyclient.TestReconnect
  test_pyclient.TestPipeline
  test_pyclient.TestInstall
  test_pyclient_aio.TestQueueProxy
  test_pyclient_aio.TestBufProxy
  test_pyclient_aio.TestClient
  test_pyclient_aio.TestConcurrency
  test_pyclient_aio.TestCancellation
  test_pyclient_aio.TestValues
  test_pyclient_aio.TestAddress
  test_pyclient_aio.TestFakeServer
  test_pyclient_aio.TestTLS
  test_pyclient_aio.TestManager
  test_pyclient_aio.TestInstall
)
foreach(suite ${qmgr_pyclient_suites})
  add_test(NAME integration.${suite}
           COMMAND ${Python3_EXECUTABLE} -m unittest -v ${suite}
           WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
  set_tests_properties(integration.${suite} PROPERTIES
    ENVIRONMENT "QMGRD=$<TARGET_FILE:qmgrd>;PYTHONDONTWRITEBYTECODE=1;PYTHONPATH=${CMAKE_SOURCE_DIR}/client/python/src;QMGR_BUILD_DIR=${CMAKE_BINARY_DIR};QMGR_CMAKE=${CMAKE_COMMAND}"
    TIMEOUT 300
    LABELS integration)
endforeach()
