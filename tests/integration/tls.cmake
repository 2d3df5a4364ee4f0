# TLS listeners (docs/tls.md). test_tls makes its own throwaway PKI with the
# openssl command line (tlscerts.py); the tls.<suite> entries replay the
# single daemon's suites through a tls:// listener (QMGRTEST_TLS=1).
add_test(NAME integration.test_tls
         COMMAND ${Python3_EXECUTABLE} -m unittest -v test_tls
         WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
set_tests_properties(integration.test_tls PROPERTIES
  ENVIRONMENT "QMGRD=$<TARGET_FILE:qmgrd>;QMGRCTL=$<TARGET_FILE:qmgrctl>;QMGR_BENCH=$<TARGET_FILE:qmgr-bench>;PYTHONDONTWRITEBYTECODE=1"
  TIMEOUT 600 LABELS "integration;tls")

set(qmgr_tls_replayed_suites
  test_methods.TestDiscovery
  test_methods.TestHandshakeKeys
  test_methods.TestQueueMethods
  test_methods.TestBufMethods
  test_blocking
  test_hostile
  test_hostile_more
)
# Under AddressSanitizer, freed memory waits in a quarantine (256 MB by
# default) before it is reused: the suites' RSS bounds would measure the
# quarantine of OpenSSL's per-connection state, not the daemon. A small one
# keeps them meaningful; leaks are still reported.
set(qmgr_tls_asan_options "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:quarantine_size_mb=4")
foreach(suite ${qmgr_tls_replayed_suites})
  add_test(NAME tls.${suite}
           COMMAND ${Python3_EXECUTABLE} -m unittest -v ${suite}
           WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
  set_tests_properties(tls.${suite} PROPERTIES
    ENVIRONMENT "QMGRD=$<TARGET_FILE:qmgrd>;QMGRTEST_TLS=1;PYTHONDONTWRITEBYTECODE=1;${qmgr_tls_asan_options}"
    TIMEOUT 600 LABELS "integration;tls")
endforeach()
