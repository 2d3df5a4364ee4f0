# qmgr-bench: the benchmark client (included by the top-level CMakeLists.txt
# once the qmgr-client target exists). It reads the daemon's config file for
# -C, hence qmgr_config.
find_package(Threads REQUIRED)
add_executable(qmgr-bench
  ${CMAKE_CURRENT_SOURCE_DIR}/client/bench.c
  ${CMAKE_CURRENT_SOURCE_DIR}/client/bench_run.c
  ${CMAKE_CURRENT_SOURCE_DIR}/client/bench_hist.c)
target_include_directories(qmgr-bench PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(qmgr-bench PRIVATE qmgr-client qmgr_config Threads::Threads m)
install(TARGETS qmgr-bench RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT client)
