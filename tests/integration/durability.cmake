# Durability, fault and soak suites: a real qmgrd (journal = on) killed -9,
# run under RLIMIT_FSIZE, starved and churned, driven by Python helper
# processes (dur_*.py). One ctest entry per class, registered like
# python.cmake. QMGR_SOAK_SECONDS (default 40 per soak) and
# QMGR_CRASH_SEEDS (extra crash-loop seeds) are read from the environment.
set(qmgr_durability_suites
  test_durability.TestKill9Always
  test_durability.TestKill9Everysec
  test_durability.TestKill9No
  test_durability.TestRedeliveryAcrossRestart
  test_durability.TestJournalFile
  test_durability.TestCompaction
  test_durability.TestGroupCommit
  test_durability.TestCrashLoop
  test_journal_safety.TestMiddleDamage
  test_journal_safety.TestUnconfiguredObjects
  test_journal_safety.TestCompactionTrigger
  test_journal_safety.TestFullDiskAtStart
  test_journal_safety.TestOwnerIds
  test_journal_safety.TestCompactionChild
  test_faults.TestFullDisk
  test_faults.TestFailedJournalLosesNothingUndelivered
  test_faults.TestSlowConsumer
  test_faults.TestProducerKilledMidPutMany
  test_faults.TestVanishingWithJournal
  test_faults.TestConnectionChurn
  test_soak.TestSoakRedeliverOff
  test_soak.TestSoakRedeliverOnWithKills
)
foreach(suite ${qmgr_durability_suites})
  add_test(NAME integration.${suite}
           COMMAND ${Python3_EXECUTABLE} -m unittest -v ${suite}
           WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
  set_tests_properties(integration.${suite} PROPERTIES
    ENVIRONMENT "QMGRD=$<TARGET_FILE:qmgrd>;PYTHONDONTWRITEBYTECODE=1"
    TIMEOUT 1200
    LABELS integration)
endforeach()
