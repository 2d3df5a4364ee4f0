# The log-statistics pipeline (examples/logstats) end to end against a real
# qmgrd: exact totals in the dumper's database, also with a worker SIGKILLed
# mid-batch and through a tls:// listener, checked against an independent
# recount in Python.
if(TARGET qmgr-logstats-worker)
  foreach(suite TestExactTotals TestExactTotalsOverTLS TestWorkerKilled TestEdgeLines)
    add_test(NAME integration.logstats.${suite}
             COMMAND ${Python3_EXECUTABLE} -m unittest -v test_logstats.${suite}
             WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
    set_tests_properties(integration.logstats.${suite} PROPERTIES
      ENVIRONMENT "QMGRD=$<TARGET_FILE:qmgrd>;LOGSTATS_PRODUCER=$<TARGET_FILE:qmgr-logstats-producer>;LOGSTATS_WORKER=$<TARGET_FILE:qmgr-logstats-worker>;LOGSTATS_DUMPER=$<TARGET_FILE:qmgr-logstats-dumper>;PYTHONDONTWRITEBYTECODE=1"
      TIMEOUT 600 LABELS integration)
  endforeach()
endif()
