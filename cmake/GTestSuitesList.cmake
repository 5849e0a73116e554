# Script mode (cmake -P), run after a GoogleTest binary is built: writes OUT, a ctest file
# with one entry per suite of EXE. Arguments: EXE, OUT, LABEL, TIMEOUT (seconds).
execute_process(COMMAND ${EXE} --gtest_list_tests OUTPUT_VARIABLE listing RESULT_VARIABLE rc TIMEOUT 120)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${EXE} --gtest_list_tests failed (${rc}): ${listing}")
endif()
string(REPLACE "\n" ";" lines "${listing}")
set(text "# Written by cmake/GTestSuitesList.cmake from ${EXE} --gtest_list_tests.\n")
set(count 0)
foreach(line IN LISTS lines)
  # Suite lines start in column 1 and end with '.', maybe followed by "  # TypeParam = ...".
  if(line MATCHES "^([A-Za-z_][A-Za-z0-9_/]*)\\.")
    set(suite ${CMAKE_MATCH_1})
    string(APPEND text "add_test([=[${suite}]=] [=[${EXE}]=] [=[--gtest_filter=${suite}.*]=])\n"
      "set_tests_properties([=[${suite}]=] PROPERTIES LABELS ${LABEL} TIMEOUT ${TIMEOUT}"
      " SKIP_REGULAR_EXPRESSION [=[\\[  PASSED  \\] 0 tests]=])\n")
    math(EXPR count "${count} + 1")
  endif()
endforeach()
if(count EQUAL 0)
  message(FATAL_ERROR "${EXE} lists no GoogleTest suite")
endif()
file(WRITE ${OUT} "${text}")
