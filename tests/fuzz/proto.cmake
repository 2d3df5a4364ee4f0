# proto/ fuzz targets. The proto sources are compiled into each target, not
# linked from the static libraries, so that libFuzzer's coverage
# instrumentation and the sanitizers reach them.
get_filename_component(qmgr_root ${CMAKE_CURRENT_LIST_DIR}/../.. ABSOLUTE)
set(proto_fuzz_sources
    ${qmgr_root}/common/bytes.c
    ${qmgr_root}/proto/mp.c
    ${qmgr_root}/proto/rpc.c
    ${qmgr_root}/proto/handshake_mac.c
    ${qmgr_root}/proto/handshake_client.c
    ${qmgr_root}/proto/handshake_server.c)

foreach(target fuzz_mp_scan fuzz_rpc fuzz_handshake)
  add_executable(${target} ${CMAKE_CURRENT_LIST_DIR}/${target}.c ${proto_fuzz_sources})
  target_include_directories(${target} PRIVATE ${qmgr_root})
  target_compile_options(${target} PRIVATE -g -O1 -fsanitize=fuzzer,address,undefined
                                           -fno-sanitize-recover=undefined)
  target_link_options(${target} PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(${target} PRIVATE PkgConfig::MSGPACK PkgConfig::SODIUM PkgConfig::NETTLE)

  # Smoke run. The seeds go in as -seed_inputs, not as a directory: libFuzzer
  # writes every new input into its first corpus directory, and the checked-in
  # corpus must not change (nor the run, from one time to the next).
  set(seed_dir ${CMAKE_CURRENT_LIST_DIR}/corpus/${target})
  file(GLOB seeds CONFIGURE_DEPENDS ${seed_dir}/*)
  list(JOIN seeds "," seed_list)
  add_test(NAME fuzz.${target} COMMAND ${target} -runs=20000 -seed=1 -seed_inputs=${seed_list})
  set_tests_properties(fuzz.${target} PROPERTIES LABELS fuzz TIMEOUT 300)

  # A minute of fuzzing over a copy of the corpus in the build tree, which
  # keeps what it finds from one run to the next.
  file(COPY ${seed_dir} DESTINATION ${CMAKE_CURRENT_BINARY_DIR}/corpus)
  add_test(NAME fuzz60.${target}
           COMMAND ${target} -max_total_time=60 -rss_limit_mb=2048
                   ${CMAKE_CURRENT_BINARY_DIR}/corpus/${target})
  set_tests_properties(fuzz60.${target} PROPERTIES LABELS fuzz60 TIMEOUT 180)
endforeach()
