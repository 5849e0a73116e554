# nin_gtest_suites(TARGET LABEL TIMEOUT): one ctest entry per GoogleTest suite of TARGET
# (`TARGET --gtest_filter=Suite.*`), listed after each build as gtest_discover_tests lists
# tests. One process per suite, not per test: each process loads LibTorch, which costs a
# second or more with a CUDA LibTorch. An entry whose tests were all skipped (GTEST_SKIP)
# counts as skipped; one with a skipped test among passing ones passes, and its output names
# the skip.
function(nin_gtest_suites target label timeout)
  set(list_file ${CMAKE_CURRENT_BINARY_DIR}/${target}_suites.cmake)
  add_custom_command(TARGET ${target} POST_BUILD
    COMMAND ${CMAKE_COMMAND} -DEXE=$<TARGET_FILE:${target}> -DOUT=${list_file} -DLABEL=${label}
            -DTIMEOUT=${timeout} -P ${PROJECT_SOURCE_DIR}/cmake/GTestSuitesList.cmake
    BYPRODUCTS ${list_file} VERBATIM)
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${list_file})
endfunction()
