# The Prometheus endpoint (metrics_listen): test_metrics.py against a real
# qmgrd, one ctest entry per class; TestPrometheus starts Debian's
# prometheus (found here, else on PATH at run time) to scrape it, and
# cluster.test_metrics.TestCluster a three-node NATS JetStream cluster.
find_program(QMGR_PROMETHEUS prometheus)
set(qmgr_metrics_env
  "QMGRD=$<TARGET_FILE:qmgrd>;PROMETHEUS=${QMGR_PROMETHEUS};PYTHONDONTWRITEBYTECODE=1;PYTHONPATH=${CMAKE_SOURCE_DIR}/client/python/src")
set(qmgr_metrics_suites
  test_metrics.TestExposition
  test_metrics.TestLabelEscaping
  test_metrics.TestHttp
  test_metrics.TestListening
  test_metrics.TestPrometheus
)
foreach(suite ${qmgr_metrics_suites})
  add_test(NAME integration.${suite}
           COMMAND ${Python3_EXECUTABLE} -m unittest -v ${suite}
           WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
  set_tests_properties(integration.${suite} PROPERTIES
    ENVIRONMENT "${qmgr_metrics_env}" TIMEOUT 300 LABELS integration)
endforeach()
add_test(NAME cluster.test_metrics.TestCluster
         COMMAND ${Python3_EXECUTABLE} -m unittest -v test_metrics.TestCluster
         WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
set_tests_properties(cluster.test_metrics.TestCluster PROPERTIES
  ENVIRONMENT "${qmgr_metrics_env}" TIMEOUT 600 LABELS "integration;cluster")
