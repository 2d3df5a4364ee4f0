# The daemon's input parsers: the journal reader (replay of arbitrary files)
# and the params checker behind every method. The daemon's sources are
# compiled into each target so the instrumentation reaches them.
get_filename_component(qmgr_root ${CMAKE_CURRENT_LIST_DIR}/../.. ABSOLUTE)
file(GLOB server_fuzz_sources ${qmgr_root}/server/*.c ${qmgr_root}/proto/*.c)
list(REMOVE_ITEM server_fuzz_sources ${qmgr_root}/server/main.c)
list(APPEND server_fuzz_sources ${qmgr_root}/common/bytes.c ${qmgr_root}/common/log.c
     ${qmgr_root}/common/authkey.c ${qmgr_root}/common/config.c ${qmgr_root}/common/crc32c.c)

foreach(target fuzz_journal fuzz_params)
  add_executable(${target} ${CMAKE_CURRENT_LIST_DIR}/${target}.c ${server_fuzz_sources})
  target_include_directories(${target} PRIVATE ${qmgr_root} ${UTHASH_INCLUDE_DIR})
  target_compile_options(${target} PRIVATE -g -O1 -fsanitize=fuzzer,address,undefined
                                           -fno-sanitize-recover=undefined)
  target_link_options(${target} PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(${target} PRIVATE PkgConfig::MSGPACK PkgConfig::SODIUM PkgConfig::NETTLE
                        PkgConfig::LIBEVENT PkgConfig::INIH PkgConfig::ISAL m)
  set(seed_dir ${CMAKE_CURRENT_LIST_DIR}/corpus/${target})
  file(GLOB seeds CONFIGURE_DEPENDS ${seed_dir}/*)
  list(JOIN seeds "," seed_list)
  add_test(NAME fuzz.${target} COMMAND ${target} -runs=20000 -seed=1 -seed_inputs=${seed_list})
  set_tests_properties(fuzz.${target} PROPERTIES LABELS fuzz TIMEOUT 300)
  file(COPY ${seed_dir} DESTINATION ${CMAKE_CURRENT_BINARY_DIR}/corpus)
  add_test(NAME fuzz60.${target}
           COMMAND ${target} -max_total_time=60 -rss_limit_mb=2048
                   ${CMAKE_CURRENT_BINARY_DIR}/corpus/${target})
  set_tests_properties(fuzz60.${target} PROPERTIES LABELS fuzz60 TIMEOUT 180)
endforeach()
