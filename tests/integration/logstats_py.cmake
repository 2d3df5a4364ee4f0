# The Python log-statistics pipeline (examples/logstats-py: producer.py,
# worker.py with a multiprocessing.Pool of 8, dumper.py) end to end against
# a real qmgrd through the qmgr Python package of the source tree: exact
# totals in the dumper's SQLite database, also with a Pool process SIGKILLed
# while it holds a batch, checked against an independent recount.
foreach(suite TestExactTotals TestWorkerKilled)
  add_test(NAME integration.logstats_py.${suite}
           COMMAND ${Python3_EXECUTABLE} -m unittest -v test_logstats_py.${suite}
           WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
  set_tests_properties(integration.logstats_py.${suite} PROPERTIES
    ENVIRONMENT "QMGRD=$<TARGET_FILE:qmgrd>;PYTHONPATH=${CMAKE_SOURCE_DIR}/client/python/src;PYTHONDONTWRITEBYTECODE=1"
    TIMEOUT 300 LABELS integration)
endforeach()
