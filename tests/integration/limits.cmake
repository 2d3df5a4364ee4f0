# Limits a hostile or careless peer must not get around (test_limits.py):
# max_output for parked getters, reply amplification, bookkeeping counted
# in memory_bytes, max_waiters, task_done time, the handshake pool, peer log
# rate limits, huge timeouts, and a hostile soak (QMGR_SOAK_SECONDS, default
# 20). One ctest entry per class, like durability.cmake.
set(qmgr_limits_suites
  TestParkedGettersOverMaxOutput
  TestReplyAmplification
  TestBookkeepingCounted
  TestMaxWaiters
  TestJournalPendingCounted
  TestTaskDoneTime
  TestHandshakePool
  TestPeerLogRateLimit
  TestHugeTimeouts
  TestHostileSoak
)
foreach(suite ${qmgr_limits_suites})
  add_test(NAME integration.test_limits.${suite}
           COMMAND ${Python3_EXECUTABLE} -m unittest -v test_limits.${suite}
           WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
  set_tests_properties(integration.test_limits.${suite} PROPERTIES
    ENVIRONMENT "QMGRD=$<TARGET_FILE:qmgrd>;PYTHONDONTWRITEBYTECODE=1"
    TIMEOUT 900
    LABELS integration)
endforeach()
