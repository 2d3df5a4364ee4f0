# Cluster mode (store = jetstream): each ctest entry starts its own
# three-node NATS JetStream cluster on free loopback ports (natscluster.py),
# then real qmgrd front ends on it.
#   cluster.test_cluster.*   semantics across front ends, faults, a cut-off
#   cluster.<suite>          the single daemon's suites against a front end
set(qmgr_cluster_suites
  test_cluster.TestAcrossFrontends
  test_cluster.TestFaults
  test_cluster.TestLeaderKill
  test_cluster.TestCutOff
  test_cluster.TestCutOffPastASnapshot
  test_cluster.TestSnapshots
  test_cluster.TestStartBeforeJetStreamIsReady
)
set(qmgr_cluster_replayed_suites
  test_methods.TestDiscovery
  test_methods.TestHandshakeKeys
  test_methods.TestQueueMethods
  test_methods.TestBufMethods
  test_blocking
  test_redelivery
)
foreach(suite ${qmgr_cluster_suites} ${qmgr_cluster_replayed_suites})
  add_test(NAME cluster.${suite}
           COMMAND ${Python3_EXECUTABLE} -m unittest -v ${suite}
           WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
  set_tests_properties(cluster.${suite} PROPERTIES
    ENVIRONMENT "QMGRD=$<TARGET_FILE:qmgrd>;QMGRCTL=$<TARGET_FILE:qmgrctl>;QMGRTEST_STORE=jetstream;PYTHONDONTWRITEBYTECODE=1"
    TIMEOUT 900
    LABELS "integration;cluster")
endforeach()
