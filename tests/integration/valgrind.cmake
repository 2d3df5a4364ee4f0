# The daemon under valgrind memcheck for every Python suite of python.cmake:
# no invalid access, and no leak at exit (the harness requires exit status 0;
# valgrind makes it 99).
if(QMGR_VALGRIND AND NOT QMGR_SANITIZE)
  set(QMGRD_VALGRIND_WRAPPER ${CMAKE_CURRENT_BINARY_DIR}/qmgrd-valgrind)
  file(GENERATE OUTPUT ${QMGRD_VALGRIND_WRAPPER} CONTENT
"#!/bin/sh
exec ${QMGR_VALGRIND} --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect -q $<TARGET_FILE:qmgrd> \"$@\"
" FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
  foreach(module ${qmgr_integration_suites})
    add_test(NAME valgrind.integration.${module}
             COMMAND ${Python3_EXECUTABLE} -m unittest ${module}
             WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
    set_tests_properties(valgrind.integration.${module} PROPERTIES
      ENVIRONMENT "QMGRD=${QMGRD_VALGRIND_WRAPPER};QMGRTEST_TIMEOUT_SCALE=10"
      TIMEOUT 1200 LABELS valgrind)
  endforeach()
endif()
